import { fromCallback, fromPromise, setup } from 'xstate';
import type { AttestingBackEvent, CredentialsEvent, IssueRequest, IssueSummary } from './events.ts';
import { peerMachine } from './peer.machine.ts';
import type { ProvisioningContext, ProvisioningEvent, ProvisioningInput, SelfProvisionResult } from './provisioning.types.ts';

/** Stands in for an effect until src/ provides it: running the bare machine fails loudly. */
const notProvided = (what: string) => () => {
  throw new Error(`${what} is not provided`);
};

/** An effect that runs as long as the daemon and only sends events (it receives none). */
const watching = (what: string) => fromCallback(notProvided(what));

/** An observer of the daemon's actor system: it sends nothing and receives nothing. */
const observing = (what: string) => fromCallback(notProvided(what));

/**
 * The daemon machine's types and the effects it invokes by name. src/ provides the effects with
 * `.provide({ actors })` (src/daemon-effects.ts, the one place); the actions (provisioning.actions.ts) and
 * the chart build on this.
 */
export const provisioningSetup = setup({
  types: {
    context: {} as ProvisioningContext,
    events: {} as ProvisioningEvent,
    input: {} as ProvisioningInput,
    emitted: {} as SelfProvisionResult,
  },
  actors: {
    /** The daemon's lock: serves the Provisioning object on the connection that owns the bus name (BUS_NAME_OWNED). Released last. */
    busName: watching('busName'),
    /** Logs every state change of the daemon and its peers. */
    transitionLog: observing('transitionLog'),
    /** Prometheus metrics and /healthz on metrics_port (does nothing when it is 0). */
    metrics: observing('metrics'),
    /** The live inspector page on inspect_port (does nothing when it is 0). */
    inspector: observing('inspector'),
    issueCertificates: fromPromise<IssueSummary, IssueRequest>(notProvided('issueCertificates')),
    tlsResponder: fromCallback<CredentialsEvent>(notProvided('tlsResponder')),
    peer: peerMachine,
    /** Writes provisioned = true to the state file (settles at once when it is there already). */
    persistProvisioned: fromPromise<void>(notProvided('persistProvisioned')),
    /** The wall clock's verdicts and jumps: CLOCK_IMPLAUSIBLE, CLOCK_PLAUSIBLE, CLOCK_JUMPED. */
    clockWatch: watching('clockWatch'),
    /** The trust store directory: TRUST_STORE_CHANGED after every change. */
    trustStoreWatch: watching('trustStoreWatch'),
    /** LLDP neighbours through lldpd's D-Bus service: LLDP_NEIGHBOR, LLDP_GONE. */
    lldpDiscovery: watching('lldpDiscovery'),
    /** attestationd's responder objects: RESPONDER_ATTESTED when a requester has attested us; told ATTESTING_BACK. */
    responderAttestations: fromCallback<AttestingBackEvent>(notProvided('responderAttestations')),
    /** Publishes the D-Bus properties and per-peer objects (selectPublishedProperties, selectPeerViews) after every change. */
    dbusProjection: watching('dbusProjection'),
    /** Writes each peer's last attestation (time, verdict) to the state file when it changes. */
    persistAttestations: watching('persistAttestations'),
  },
});
