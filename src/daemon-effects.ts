import { fromCallback } from 'xstate';
import { backoffDelay } from '../machines/backoff.ts';
import { peerMachine } from '../machines/peer.machine.ts';
import { provisioningMachine, type ProvisioningActor, type ProvisioningMachine } from '../machines/provisioning.machine.ts';
import { createBusNameActor, type ServiceSlot } from './actors/bus-name.actor.ts';
import { createClockWatchActor } from './actors/clock-watch.actor.ts';
import { createDbusProjectionActor } from './actors/dbus-projection.actor.ts';
import { createInspectorActor } from './actors/inspector.actor.ts';
import { createIssueCertificatesActor, type CertificateIssuing } from './actors/issue-certificates.actor.ts';
import { createLldpDiscoveryActor } from './actors/lldp-discovery.actor.ts';
import { createMetricsActor } from './actors/metrics.actor.ts';
import { createPersistAttestationsActor } from './actors/persist-attestations.actor.ts';
import { createPersistProvisionedActor } from './actors/persist-provisioned.actor.ts';
import { createResponderAttestationsActor } from './actors/responder-attestations.actor.ts';
import { createTlsClientActor } from './actors/tls-client.actor.ts';
import { createTlsResponderActor } from './actors/tls-responder.actor.ts';
import { createTransitionLogActor } from './actors/transition-log.actor.ts';
import { createTrustStoreWatchActor } from './actors/trust-store-watch.actor.ts';
import { createAttestPeerActor } from './attestation-client/attest-peer.actor.ts';
import { reattestationActors, reattestationOf } from './attestation-client/reattestation-wiring.ts';
import type { ClockWatch } from './clock/clock-watch.ts';
import type { Config } from './config/schema.ts';
import type { DaemonParts } from './daemon-parts.ts';
import type { BusConnection } from './dbus/system-bus.ts';
import type { Logger } from './log.ts';
import type { DaemonLiveState } from './metrics/daemon-metrics-server.ts';
import type { CredentialHolder } from './pki/certificate/index.ts';
import type { TrustStore } from './pki/trust/index.ts';
import type { StateStore } from './state/state-store.ts';
import type { Settling } from './util/settling.ts';

/** Everything the daemon's effects are built from, prepared by startDaemon. */
export interface DaemonEffectsDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly credentials: CredentialHolder;
  readonly issuer: CertificateIssuing & { close(): Promise<void> };
  /** The optional parts loaded because they are configured (metrics, inspector). */
  readonly parts: DaemonParts;
  readonly trustStore: TrustStore;
  readonly stateStore: StateStore;
  readonly clock: ClockWatch;
  readonly conn: BusConnection;
  readonly busCallTimeoutMs: number;
  /** Start-up work the actors leave running (awaited before the daemon reports itself up). */
  readonly starting: Settling;
  /** Closes the actors leave running when stopped (awaited before the bus name is released). */
  readonly closing: Settling;
  /** The way out after the bus name (its release, the connection, the state file, the token): stopping is over once it settled. */
  readonly released: Settling;
  /** The daemon actor: it exists once the machine is provided, and is read only when the actors run. */
  readonly root: () => ProvisioningActor;
}

const seconds = (s: number) => Math.round(s * 1000);

/** The root's observers: real ones where configured (and their parts loaded), else ones that do nothing. */
function observerActors(d: DaemonEffectsDeps, live: DaemonLiveState) {
  const { config, log, parts } = d;
  const nothing = fromCallback(() => undefined);
  const metrics = parts.metrics?.createDaemonMetrics({ actor: d.root });
  return {
    issuer: metrics ? metrics.timeIssuer(d.issuer) : d.issuer,
    actors: {
      transitionLog: createTransitionLogActor(log),
      metrics:
        parts.metrics && metrics
          ? createMetricsActor({ part: parts.metrics, metrics, port: config.metrics_port, log, live, starting: d.starting, closing: d.closing })
          : nothing,
      inspector: parts.inspector
        ? createInspectorActor({
            part: parts.inspector,
            port: config.inspect_port,
            ...(config.stately_inspector_url ? { statelyUrl: config.stately_inspector_url } : {}),
            log,
            root: d.root,
            starting: d.starting,
            closing: d.closing,
          })
        : nothing,
    },
  };
}

/**
 * The one place where the machines' named effects get their implementations: the daemon machine
 * with every actor it invokes or spawns (and the peer machine's) provided.
 */
export function provideDaemonEffects(d: DaemonEffectsDeps): ProvisioningMachine {
  const { config, log, trustStore, conn, busCallTimeoutMs } = d;
  const tlsDeps = { config, credentials: d.credentials, trustStore, log };
  const busActor = { conn, log, busCallTimeoutMs, closing: d.closing };
  const reattest = reattestationOf(config);
  const slot: ServiceSlot = { current: undefined };
  // What /healthz reads: the daemon actor, and whether it owns its name on a bus still there.
  const live: DaemonLiveState = {
    get actor() {
      return d.root();
    },
    get owned() {
      return !conn.isLost() && d.root().getSnapshot().context.ownsBusName;
    },
  };
  const observers = observerActors(d, live);
  return provisioningMachine.provide({
    actors: {
      ...observers.actors,
      busName: createBusNameActor({
        ...busActor,
        ownName: config.name,
        selfDeadlineMs: seconds(config.token_timeout) * 2 + 5000,
        root: d.root,
        slot,
        beforeSelfReply: () => d.stateStore.update({ provisioned: d.root().getSnapshot().context.provisioned }),
        // Not actors: the token the issuer holds and the state file's last write close after the name.
        closeLast: async () => {
          await d.stateStore.flushed().catch(() => undefined);
          await d.issuer.close().catch((err: unknown) => log.warn(`closing the token: ${String(err)}`));
        },
        released: d.released,
      }),
      issueCertificates: createIssueCertificatesActor(observers.issuer),
      persistProvisioned: createPersistProvisionedActor({ stateStore: d.stateStore, log }),
      tlsResponder: createTlsResponderActor(tlsDeps),
      peer: peerMachine.provide({
        actors: {
          attestPeer: createAttestPeerActor({
            config,
            bus: () => (conn.isLost() ? undefined : conn.bus),
            trustStore,
            log: log.child({ component: 'attestation' }),
            busCallTimeoutMs,
          }),
          ...reattestationActors({ config, bus: () => (conn.isLost() ? undefined : conn.bus), trustStore, log, busCallTimeoutMs }),
          tlsClient: createTlsClientActor(tlsDeps),
        },
        guards: reattest.guards,
        delays: { retryBackoff: ({ context }) => backoffDelay(context.retry, context.attempt, Math.random()), ...reattest.delays },
      }),
      clockWatch: createClockWatchActor(d.clock),
      trustStoreWatch: createTrustStoreWatchActor(trustStore),
      lldpDiscovery: createLldpDiscoveryActor({ ...busActor, config }),
      responderAttestations: createResponderAttestationsActor({ ...busActor, starting: d.starting }),
      dbusProjection: createDbusProjectionActor({ bus: conn.bus, log, root: d.root, service: () => slot.current }),
      persistAttestations: createPersistAttestationsActor({ stateStore: d.stateStore, log, root: d.root }),
    },
  });
}
