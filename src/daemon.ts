import { createActor, type InspectionEvent } from 'xstate';
import { backoffDelay } from '../machines/backoff.ts';
import { selectDbusProperties } from '../machines/dbus-properties.ts';
import { selectPeerViews } from '../machines/peer-projection.ts';
import { peerMachine } from '../machines/peer.machine.ts';
import { peerChildId, provisioningMachine, type ProvisioningActor } from '../machines/provisioning.machine.ts';
import { createIssueCertificatesActor, type CertificateIssuing } from './actors/issue-certificates.actor.ts';
import { createTlsClientActor } from './actors/tls-client.actor.ts';
import { createTlsResponderActor } from './actors/tls-responder.actor.ts';
import { createAttestPeerActor } from './attestation-client/attest-peer.actor.ts';
import { attestBackTargets } from './attestation-client/attest-back-targets.ts';
import { watchResponderAttestations } from './attestation-client/responder-attestations.ts';
import { reattestationActors, reattestationOf } from './attestation-client/reattestation-wiring.ts';
import { BUILD_TIME_MS } from './clock/build-time.ts';
import { watchClock } from './clock/clock-watch.ts';
import type { Config } from './config/schema.ts';
import { loadInspector } from './inspector-part.ts';
import { exportPeerObjects } from './dbus/peer-objects.ts';
import { exportProvisioningService, type ProvisioningService } from './dbus/provisioning-service.ts';
import { connectSystemBus } from './dbus/system-bus.ts';
import { startLldpDiscovery, type LldpDiscovery } from './lldp/lldp-discovery.ts';
import type { Logger } from './log.ts';
import type { DaemonLiveState } from './metrics/daemon-metrics-server.ts';
import { caStartReader, certPaths, type CredentialHolder } from './pki/certificate/index.ts';
import { legacyAuthorityDirOf, migrateLegacyTrustStore, TrustStore, trustDirOf } from './pki/trust/index.ts';
import { attestationRecords, type AttestationRecords } from './state/attestation-history.ts';
import { StateStore, type PersistedState } from './state/state-store.ts';
import { logTransitions } from './transition-log.ts';
import { withTimeout } from './util/with-timeout.ts';

/** Everything the daemon is built from; the issuer is passed in so the token choice stays in main. */
export interface DaemonDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly credentials: CredentialHolder;
  readonly issuer: CertificateIssuing & { close(): Promise<void> };
}

/** A started daemon: `lost` settles if the bus goes away; stop() shuts down cleanly. */
export interface RunningDaemon {
  readonly actor: ProvisioningActor;
  readonly lost: Promise<string>;
  stop(): Promise<void>;
}

const seconds = (s: number) => Math.round(s * 1000);
const BUS_CALL_TIMEOUT_MS = 10_000;

/** Wires the pure machines to their effects (`.provide()`), D-Bus, persistence and logging. */
export async function startDaemon(deps: DaemonDeps): Promise<RunningDaemon> {
  const { config, log, credentials, issuer } = deps;
  const stateStore = new StateStore(config.state_dir);
  const loaded = stateStore.load();
  if (loaded.problem) log.warn(loaded.problem, { code: 'STATE_FILE_CORRUPT' });
  /** The peers' last attestations (persisted with the flag); this run's views update it. */
  let history: AttestationRecords = loaded.state.peers ?? {};
  const persisted = (provisioned: boolean): PersistedState => ({ version: 2, provisioned, ...(Object.keys(history).length ? { peers: history } : {}) });

  const trustDir = trustDirOf(config);
  // An upgrade moves our attested CAs out of bmcweb's trust store. If that cannot finish (e.g. a
  // read-only directory), what was copied is trusted from trustDir already and the next start tries again.
  await withTimeout(
    migrateLegacyTrustStore({ from: legacyAuthorityDirOf(config.cert_root), to: trustDir, log }),
    BUS_CALL_TIMEOUT_MS,
    'moving attested CAs out of the old trust store',
  ).catch((err: unknown) =>
    log.error(`trust store: cannot move the attested CAs out of ${legacyAuthorityDirOf(config.cert_root)}: ${err instanceof Error ? err.message : String(err)}`, {
      code: 'TRUST_STORE_MIGRATION',
    }),
  );
  const trustStore = new TrustStore({ dir: trustDir, log });
  await withTimeout(trustStore.reload(), BUS_CALL_TIMEOUT_MS, 'reading the trust store');

  const observers: Array<(ev: InspectionEvent) => void> = [];
  const closers: Array<() => Promise<void>> = [];
  const inspectorModule = config.inspect_port ? await loadInspector(log) : undefined;
  if (config.inspect_port && inspectorModule) {
    const inspector = await inspectorModule.startInspector({
      port: config.inspect_port,
      log: log.child({ component: 'inspector' }),
      ...(config.stately_inspector_url ? { statelyUrl: config.stately_inspector_url } : {}),
    });
    observers.push(inspector.observer);
    closers.push(() => inspector.close());
    log.info(`inspector at ${inspector.url}`);
  }

  const live: DaemonLiveState = { owned: false };
  const metrics = config.metrics_port
    ? await (await import('./metrics/daemon-metrics-server.ts')).startDaemonMetrics({ port: config.metrics_port, log, live })
    : undefined;
  if (metrics) {
    observers.push(metrics.observer);
    closers.push(() => metrics.close());
  }

  const retry = {
    baseMs: seconds(config.retry_base),
    capMs: seconds(config.retry_timer),
    fastRetries: config.retry_count,
  };
  const tlsDeps = { config, credentials, trustStore, log };
  const conn = connectSystemBus();
  let busGone = false;
  void conn.lost.then(() => {
    busGone = true;
    live.owned = false;
  });
  const attestPeer = createAttestPeerActor({
    config,
    bus: () => (busGone ? undefined : conn.bus),
    trustStore,
    log: log.child({ component: 'attestation' }),
    busCallTimeoutMs: BUS_CALL_TIMEOUT_MS,
  });
  const reattest = reattestationOf(config);
  const machine = provisioningMachine.provide({
    actors: {
      issueCertificates: createIssueCertificatesActor(metrics ? metrics.timeIssuer(issuer) : issuer),
      tlsResponder: createTlsResponderActor(tlsDeps),
      peer: peerMachine.provide({
        actors: {
          attestPeer,
          ...reattestationActors({ config, bus: () => (busGone ? undefined : conn.bus), trustStore, log, busCallTimeoutMs: BUS_CALL_TIMEOUT_MS }),
          tlsClient: createTlsClientActor(tlsDeps),
        },
        guards: reattest.guards,
        delays: { retryBackoff: ({ context }) => backoffDelay(context.retry, context.attempt, Math.random()), ...reattest.delays },
      }),
    },
  });

  const peerObjects = exportPeerObjects({ bus: conn.bus, log });
  let service: ProvisioningService | undefined;
  let projectionQueued = false;
  let stopped = false;
  const publishLatest = () => {
    if (!stopped) service?.publish(selectDbusProperties(actor.getSnapshot()));
  };
  const project = () => {
    projectionQueued = false;
    const views = selectPeerViews(actor.getSnapshot(), history);
    if (!stopped) peerObjects.publish(views);
    const props = selectDbusProperties(actor.getSnapshot());
    if (!props.provisioned) {
      service?.publish(props);
      return;
    }
    history = attestationRecords(history, views);
    // provisioned=true goes out on D-Bus only once it is on disk, so that a crash never takes back
    // what clients were told (save() settles at once when the state is already persisted).
    stateStore.save(persisted(true)).then(publishLatest, (err: unknown) => {
      log.error(`cannot persist state: ${err instanceof Error ? err.message : String(err)}`, { code: 'STATE_WRITE' });
      publishLatest();
    });
  };
  observers.push(logTransitions(log));
  observers.push((ev) => {
    if (ev.type === '@xstate.snapshot' && !projectionQueued) {
      projectionQueued = true;
      queueMicrotask(project);
    }
  });

  // Its first verdict is the machine's input; later changes and jumps are sent once the actor runs.
  const clock = watchClock({ buildTimeMs: BUILD_TIME_MS, caNotBeforeMs: caStartReader(certPaths(config.cert_root).selfCa), log });
  const actor = createActor(machine, {
    input: {
      provisioned: loaded.state.provisioned,
      staticPeers: config.peers,
      retry,
      attestationTimeoutMs: seconds(config.attestation_timeout),
      maxRequestedPeers: config.max_requested_peers,
      forgetFailedMs: seconds(config.failed_peer_lifetime),
      maxDepartedPeers: config.lldp_max_neighbors,
      issueRetryMs: Math.min(seconds(config.retry_timer), 60_000),
      listenRetryMs: Math.min(seconds(config.retry_timer), 10_000),
      attestedNames: trustStore.attestedNames(),
      anyNameTrusted: trustStore.vouchesForAnyName(),
      clockPlausible: clock.problem() === undefined,
      ...(clock.problem() ? { clockProblem: clock.problem() } : {}),
    },
    inspect: (ev) => {
      for (const o of observers) o(ev);
    },
  });
  const unwatchTrust = trustStore.onChange((change) => {
    actor.send({ type: 'ATTESTED_NAMES', names: trustStore.attestedNames(), anyName: trustStore.vouchesForAnyName() });
    // Only the links the change concerns are woken (all of them for a CA placed by hand).
    actor.send(change.anyName ? { type: 'TRUST_UPDATED' } : { type: 'TRUST_UPDATED', peers: change.names });
  });
  trustStore.watch();

  try {
    service = await exportProvisioningService({
      bus: conn.bus,
      actor,
      log,
      ownName: config.name,
      selfDeadlineMs: seconds(config.token_timeout) * 2 + 5000,
      busCallTimeoutMs: BUS_CALL_TIMEOUT_MS,
      initial: selectDbusProperties(actor.getSnapshot()),
      beforeSelfReply: () => stateStore.save(persisted(actor.getSnapshot().context.provisioned)),
    });
  } catch (err) {
    clock.stop();
    conn.close();
    trustStore.close();
    for (const close of closers) await close();
    throw err;
  }
  live.actor = actor;
  live.owned = !busGone;
  actor.start();
  clock.start((e) => actor.send(e));
  const discovery: LldpDiscovery = startLldpDiscovery({ bus: conn.bus, config, log, callTimeoutMs: BUS_CALL_TIMEOUT_MS, send: (e) => actor.send(e) });
  project();
  // A peer that attested us is attested back (mutual trust): its machine decides whether it still must be.
  const unwatchResponder = await watchResponderAttestations({
    bus: conn.bus,
    log,
    busCallTimeoutMs: BUS_CALL_TIMEOUT_MS,
    onAttested: (address) => {
      const snapshot = actor.getSnapshot();
      const names = attestBackTargets(address, snapshot.context);
      log.info(`attested by ${address}${names.length ? ` (${names.join(', ')})` : ': no static peer or LLDP neighbour there'}`, {
        event: 'RESPONDER_ATTESTED',
      });
      const children = snapshot.children as Record<string, { send(e: { type: 'ATTEST_BACK' }): void } | undefined>;
      for (const name of names) children[peerChildId(name)]?.send({ type: 'ATTEST_BACK' });
    },
  }).catch((err: unknown) => {
    log.warn(`not watching the attestation responder (peers that attest us are not attested back): ${err instanceof Error ? err.message : String(err)}`);
    return async () => undefined;
  });
  log.info(`provisioningd owns the bus name; provisioned=${String(loaded.state.provisioned)}`, {
    state: JSON.stringify(actor.getSnapshot().value),
  });

  return {
    actor,
    lost: conn.lost,
    async stop() {
      stopped = true;
      live.owned = false;
      unwatchTrust();
      clock.stop();
      if (!busGone) await unwatchResponder().catch(() => undefined);
      trustStore.close();
      const discoveryClosed = discovery.close().catch(() => undefined);
      actor.stop();
      peerObjects.close();
      // With the bus gone there is no name to release: waiting for a reply would only delay the exit.
      if (!busGone) await discoveryClosed;
      if (!busGone) await service?.close().catch((err: unknown) => log.warn(`releasing the bus name: ${String(err)}`));
      conn.close();
      await stateStore.flushed().catch(() => undefined);
      await issuer.close().catch((err: unknown) => log.warn(`closing the token: ${String(err)}`));
      for (const close of closers) await close().catch(() => undefined);
    },
  };
}
