import { and, forwardTo, raise, stateIn, type ActorRefFrom } from 'xstate';
import { endedPeer, provisioningActions, WATCHES } from './provisioning.actions.ts';
import { provisioningSetup } from './provisioning.setup.ts';
import { renewalDelayMs } from './renewal.ts';
import { roomForRequestedPeer } from './requested-peers.ts';

export type { KnownPeer, ProvisioningContext, ProvisioningEvent, ProvisioningInput, SelfProvisionResult } from './provisioning.types.ts';
export { MAX_TIMER_MS, renewalDelayMs } from './renewal.ts';

/** ProvisionPeer("self") where it starts an issuance: refused at once while the wall clock is implausible. */
const provisionSelfUnlessClockImplausible = [
  { guard: 'clockImplausible', actions: 'refuseForClock' },
  { target: 'Issuing', actions: 'queueSelfRequest' },
] as const;

/**
 * The daemon: one per BMC, two parallel regions. `self` holds this BMC's own credentials (issue on
 * ProvisionPeer("self"), restore after a restart, renew at two thirds of the leaf lifetime);
 * `responder` runs the mutual-TLS server while `self` is provisioned. It spawns one peer machine
 * per peer (`peer:<name>`) and keeps the table of inbound links. The root invokes the observers
 * (transition log, metrics, inspector) and the busName actor, the daemon's lock: `self` waits in
 * OwningName until it serves the name (owned before the machine starts), and only then are the effects that watch the world spawned
 * (clock, trust store, LLDP, attestationd's responder, the D-Bus projection, the attestation
 * records); nothing touches the token or the network before. Stopping the actor stops them all;
 * the busName actor releases the name last. Actions: provisioning.actions.ts.
 *
 * `self.Provisioned` means "this BMC has its CA and leaves"; a peer machine's `Provisioned`
 * (peer.machine.ts) means "that peer was attested and its CA installed here".
 */
export const provisioningMachine = provisioningSetup
  .extend({
    guards: {
      /** The persisted flag: this BMC has (had) its CA. */
      provisioned: ({ context }) => context.provisioned,
      /** This BMC has credentials: the responder may listen. */
      inProvisionedState: stateIn({ self: 'Provisioned' }),
      /** This BMC is provisioned, and ProvisionPeer names a known peer or a new one within `max_requested_peers`. */
      provisionedWithRoom: ({ context, event }) =>
        context.provisioned && (event.type !== 'PROVISION_PEER' || roomForRequestedPeer(context, event.id)),
      /** The event says a peer machine ended (a failed ProvisionPeer forgotten). */
      peerEnded: ({ event }) => endedPeer(event) !== undefined,
      /** The wall clock is implausible (clockWatch): no certificate may be issued with it. */
      clockImplausible: ({ context }) => !context.clockPlausible,
      /** This daemon owns its bus name (busName actor, or ownsBusName in the input). */
      ownsBusName: ({ context }) => context.ownsBusName,
    },
    delays: {
      leafRenewal: ({ context }) => renewalDelayMs(context.leafLifetimeMs),
      issueRetry: ({ context }) => context.issueRetryMs,
      listenRetry: ({ context }) => context.listenRetryMs,
    },
    actions: provisioningActions,
  })
  .createMachine({
    id: 'provisioning',
    context: ({ input }) => ({
      ...input,
      pendingSelfRequests: [],
      peerNames: [],
      inbound: {},
      discovered: {},
      departed: [],
      // Revoked in an earlier run: refused until a ProvisionPeer (src/ revoked any binding of the
      // name still on disk before this machine starts, so none is in attestedNames).
      revoked: Object.entries(input.attestationHistory ?? {})
        .filter(([, record]) => record?.verdict === 'revoked')
        .map(([name]) => name),
      // Read from the state file: on disk already.
      provisionedPublishable: input.provisioned,
      ownsBusName: input.ownsBusName ?? false,
    }),
    type: 'parallel',
    // For the picture (src/inspect/statechart-graph.ts): what startWatching spawns as the root's children.
    meta: { spawns: WATCHES },
    // Always running, in this order: the observers first, so that they see everything after them;
    // then the lock. The effects that watch the world are spawned once the name is owned
    // (startWatching, on the way out of self.OwningName). Stopping the daemon actor stops each;
    // the busName actor releases the name only once the others' closes have settled.
    invoke: [
      { id: 'transitionLog', src: 'transitionLog' },
      { id: 'metrics', src: 'metrics' },
      { id: 'inspector', src: 'inspector' },
      { id: 'busName', src: 'busName' },
    ],
    on: {
      // From LLDP discovery (src/lldp/lldp-discovery.ts), once the name is owned; neighbours are dialled once this BMC is provisioned.
      LLDP_NEIGHBOR: [
        { guard: 'inProvisionedState', actions: ['dialNeighbour', 'recordNeighbour'] },
        { actions: 'recordNeighbour' },
      ],
      LLDP_GONE: { actions: 'forgetNeighbour' },
      // From the peer machines: a revocation, and a ProvisionPeer that brought a revoked peer back.
      PEER_REVOKED: { actions: 'recordRevoked' },
      PEER_REINSTATED: { actions: 'recordReinstated' },
      PROVISION_PEER: { guard: 'provisionedWithRoom', actions: 'startAttestation' },
      // A peer machine ends only when a failed ProvisionPeer is forgotten (peer.machine.ts, Forgotten).
      'xstate.done.actor.*': { guard: 'peerEnded', actions: 'dropEndedPeer' },
      // A peer that dialled us trusts us now: its machine's link, if waiting to retry, dials at once.
      INBOUND_UP: { actions: ['wakeLinkOfDialler', 'inboundUp'] },
      INBOUND_DOWN: { actions: 'inboundDown' },
      // A peer dialled us with another TLS leaf (a renewal): its machine re-attests it if it is attested.
      INBOUND_PEER_LEAF: { actions: 'forwardInboundLeaf' },
      // From the trustStoreWatch actor after every change: raises ATTESTED_NAMES and TRUST_UPDATED.
      TRUST_STORE_CHANGED: { actions: 'relayTrustStoreChange' },
      // Whom an attested CA vouches for, after every change of the trust store.
      ATTESTED_NAMES: { actions: 'recordAttestedNames' },
      // From the responderAttestations actor: a peer that attested us is attested back (mutual trust).
      RESPONDER_ATTESTED: { actions: 'attestBack' },
    },
    states: {
      self: {
        initial: 'OwningName',
        // While an issuance runs, a ProvisionPeer("self") call waits for its outcome. States that
        // start an issuance on the request have their own PROVISION_SELF, which wins over this one.
        // The clock's plausibility (from the clockWatch actor) is recorded here, in the region that
        // issues; the states waiting for a plausible clock have their own CLOCK_PLAUSIBLE.
        on: {
          PROVISION_SELF: { actions: 'queueSelfRequest' },
          CLOCK_IMPLAUSIBLE: { actions: 'recordClockImplausible' },
          CLOCK_PLAUSIBLE: { actions: 'recordClockPlausible' },
        },
        states: {
          /**
           * The bus name is this daemon's lock, owned before the machine starts (a second instance
           * never gets this far); here until the busName actor serves it (BUS_NAME_OWNED).
           */
          OwningName: {
            always: { guard: 'ownsBusName', target: 'Boot', actions: 'startWatching' },
            on: {
              BUS_NAME_OWNED: { actions: 'recordBusNameOwned' },
            },
          },
          /** The name is owned: where this BMC starts from. */
          Boot: {
            always: [
              { guard: and(['provisioned', 'clockImplausible']), target: 'WaitingForClock' },
              { guard: 'provisioned', target: 'Restoring' },
              { target: 'NotProvisioned' },
            ],
          },
          NotProvisioned: {
            on: {
              PROVISION_SELF: provisionSelfUnlessClockImplausible,
            },
          },
          /** Provisioned earlier, but the wall clock is implausible: restored once it is plausible. */
          WaitingForClock: {
            on: {
              CLOCK_PLAUSIBLE: { target: 'Restoring', actions: 'recordClockPlausible' },
              PROVISION_SELF: { actions: 'refuseForClock' },
            },
          },
          /** Provisioned earlier: the CA must be found again, and fresh leaves issued. */
          Restoring: {
            invoke: {
              src: 'issueCertificates',
              input: { reason: 'boot' },
              onDone: { target: 'Provisioned', actions: { type: 'recordIssue', params: ({ event }) => event.output } },
              onError: { target: 'Unavailable', actions: 'recordIssueFailure' },
            },
          },
          /** Provisioned, but no usable credentials (token gone, CA missing): retried, or re-provisioned. */
          Unavailable: {
            entry: 'refuseSelfRequests',
            after: { issueRetry: [{ guard: 'clockImplausible', target: 'WaitingForClock' }, { target: 'Restoring' }] },
            on: {
              PROVISION_SELF: provisionSelfUnlessClockImplausible,
            },
          },
          Issuing: {
            invoke: {
              src: 'issueCertificates',
              input: { reason: 'provision' },
              onDone: { target: 'Provisioned', actions: { type: 'recordIssue', params: ({ event }) => event.output } },
              onError: [
                { guard: 'provisioned', target: 'Unavailable', actions: 'recordIssueFailure' },
                { target: 'NotProvisioned', actions: ['recordIssueFailure', 'refuseSelfRequests'] },
              ],
            },
          },
          Provisioned: {
            entry: ['answerSelfRequests', 'spawnStaticPeers', 'spawnDiscoveredPeers'],
            // provisioned = true is published on D-Bus only once it is on disk (selectPublishedProperties),
            // so that a crash never takes back what clients were told. A failed write is logged by
            // the actor (STATE_WRITE) and provisioned = true published anyway: it is true for this run.
            invoke: {
              id: 'persistProvisioned',
              src: 'persistProvisioned',
              onDone: { actions: 'allowPublishingProvisioned' },
              onError: { actions: 'allowPublishingProvisioned' },
            },
            // The wall clock moved against the monotonic clock: the leaves' validity was computed
            // from the old time, so they are issued again at once (an issuance in flight is dropped).
            on: { CLOCK_JUMPED: '.Due' },
            initial: 'Ready',
            states: {
              Ready: {
                after: { leafRenewal: 'Due' },
                on: { PROVISION_SELF: { target: 'Due', actions: 'queueSelfRequest' } },
              },
              /** New leaves are due: issued now, or once the wall clock is plausible. */
              Due: {
                always: [{ guard: 'clockImplausible', target: 'WaitingForClock', actions: 'refuseForClock' }, { target: 'Renewing' }],
              },
              /** The leaves in use stay in use; new ones wait for a plausible clock. */
              WaitingForClock: {
                on: {
                  CLOCK_PLAUSIBLE: { target: 'Renewing', actions: 'recordClockPlausible' },
                  PROVISION_SELF: { actions: 'refuseForClock' },
                },
              },
              Renewing: {
                invoke: {
                  src: 'issueCertificates',
                  input: ({ context }) => ({ reason: context.pendingSelfRequests.length ? 'provision' : 'renew' }),
                  onDone: {
                    target: 'Ready',
                    actions: [
                      { type: 'recordIssue', params: ({ event }) => event.output },
                      'answerSelfRequests',
                      raise({ type: 'CREDENTIALS_UPDATED' }),
                    ],
                  },
                  onError: { target: 'RenewalFailed', actions: ['recordIssueFailure', 'refuseSelfRequests'] },
                },
              },
              /** The links keep running on the current leaves; renewal is retried. */
              RenewalFailed: {
                after: { issueRetry: 'Due' },
                on: { PROVISION_SELF: { target: 'Due', actions: 'queueSelfRequest' } },
              },
            },
          },
        },
      },
      /** The mutual-TLS server: listening while this BMC is provisioned; a failed listen is retried. */
      responder: {
        // Trust and credential changes are handled here, in the one region always active: an event
        // handled by a state of a parallel region is not also handled by the root's `on`.
        on: {
          TRUST_UPDATED: { actions: 'notifyLinks' },
          CREDENTIALS_UPDATED: { actions: 'notifyLinks' },
        },
        initial: 'Off',
        states: {
          Off: {
            always: { guard: 'inProvisionedState', target: 'Listening' },
          },
          Listening: {
            invoke: { id: 'responder', src: 'tlsResponder' },
            exit: 'forgetInbound',
            on: {
              RESPONDER_FAILED: { target: 'Failed', actions: 'recordResponderFailure' },
              TRUST_UPDATED: { actions: ['notifyLinks', forwardTo('responder')] },
              CREDENTIALS_UPDATED: { actions: ['notifyLinks', forwardTo('responder')] },
            },
          },
          /** Could not listen (port in use, no credentials yet): tried again after listenRetry. */
          Failed: {
            after: { listenRetry: 'Listening' },
          },
        },
      },
    },
  });

/** The daemon machine as src/ provides it. */
export type ProvisioningMachine = typeof provisioningMachine;
/** A running daemon actor. */
export type ProvisioningActor = ActorRefFrom<ProvisioningMachine>;
