import { backoffDelay } from '../machines/backoff.ts';
import { peerMachine } from '../machines/peer.machine.ts';
import { provisioningMachine, type ProvisioningActor, type ProvisioningMachine } from '../machines/provisioning.machine.ts';
import { createClockWatchActor } from './actors/clock-watch.actor.ts';
import { createDbusProjectionActor } from './actors/dbus-projection.actor.ts';
import { createIssueCertificatesActor, type CertificateIssuing } from './actors/issue-certificates.actor.ts';
import { createLldpDiscoveryActor } from './actors/lldp-discovery.actor.ts';
import { createPersistAttestationsActor } from './actors/persist-attestations.actor.ts';
import { createPersistProvisionedActor } from './actors/persist-provisioned.actor.ts';
import { createResponderAttestationsActor } from './actors/responder-attestations.actor.ts';
import { createTlsClientActor } from './actors/tls-client.actor.ts';
import { createTlsResponderActor } from './actors/tls-responder.actor.ts';
import { createTrustStoreWatchActor } from './actors/trust-store-watch.actor.ts';
import { createAttestPeerActor } from './attestation-client/attest-peer.actor.ts';
import { reattestationActors, reattestationOf } from './attestation-client/reattestation-wiring.ts';
import type { ClockWatch } from './clock/clock-watch.ts';
import type { Config } from './config/schema.ts';
import type { ProvisioningService } from './dbus/provisioning-service.ts';
import type { BusConnection } from './dbus/system-bus.ts';
import type { Logger } from './log.ts';
import type { CredentialHolder } from './pki/certificate/index.ts';
import type { TrustStore } from './pki/trust/index.ts';
import type { StateStore } from './state/state-store.ts';
import type { Settling } from './util/settling.ts';

/** Everything the daemon's effects are built from, prepared by startDaemon. */
export interface DaemonEffectsDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly credentials: CredentialHolder;
  readonly issuer: CertificateIssuing;
  readonly trustStore: TrustStore;
  readonly stateStore: StateStore;
  readonly clock: ClockWatch;
  readonly conn: BusConnection;
  readonly busCallTimeoutMs: number;
  /** Start-up work the actors leave running (awaited before the daemon reports itself up). */
  readonly starting: Settling;
  /** Closes the actors leave running when stopped (awaited before the bus name is released). */
  readonly closing: Settling;
  /** The daemon actor and its D-Bus service: they exist once the machine is provided, and are read only when the actors run. */
  readonly root: () => ProvisioningActor;
  readonly service: () => ProvisioningService;
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
  return provisioningMachine.provide({
    actors: {
      issueCertificates: createIssueCertificatesActor(d.issuer),
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
      dbusProjection: createDbusProjectionActor({ bus: conn.bus, log, root: d.root, service: d.service }),
      persistAttestations: createPersistAttestationsActor({ stateStore: d.stateStore, log, root: d.root }),
    },
  });
}
