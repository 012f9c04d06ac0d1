import { createActor, type InspectionEvent } from 'xstate';
import { selectPublishedProperties } from '../machines/dbus-properties.ts';
import type { ProvisioningActor } from '../machines/provisioning.machine.ts';
import type { CertificateIssuing } from './actors/issue-certificates.actor.ts';
import { BUILD_TIME_MS } from './clock/build-time.ts';
import { watchClock } from './clock/clock-watch.ts';
import type { Config } from './config/schema.ts';
import { provideDaemonEffects } from './daemon-effects.ts';
import { daemonMachineInput } from './daemon-input.ts';
import { loadInspector } from './inspector-part.ts';
import { exportProvisioningService } from './dbus/provisioning-service.ts';
import { connectSystemBus } from './dbus/system-bus.ts';
import type { Logger } from './log.ts';
import type { DaemonLiveState } from './metrics/daemon-metrics-server.ts';
import { caStartReader, certPaths, type CredentialHolder } from './pki/certificate/index.ts';
import { legacyAuthorityDirOf, migrateLegacyTrustStore, TrustStore, trustDirOf } from './pki/trust/index.ts';
import { StateStore } from './state/state-store.ts';
import { logTransitions } from './transition-log.ts';
import { Settling } from './util/settling.ts';
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

/**
 * The composition root: prepares what the effects need (state file, trust store, bus connection,
 * clock verdict, observers), provides the machine's named effects in one place, owns the bus name,
 * and starts the daemon actor; the machine runs everything else. stop() stops the actor (and with
 * it every effect), then releases the name and closes what is not an actor.
 */
export async function startDaemon(deps: DaemonDeps): Promise<RunningDaemon> {
  const { config, log, credentials, issuer } = deps;
  const stateStore = new StateStore(config.state_dir);
  const loaded = stateStore.load();
  if (loaded.problem) log.warn(loaded.problem, { code: 'STATE_FILE_CORRUPT' });

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

  const conn = connectSystemBus();
  void conn.lost.then(() => {
    live.owned = false;
  });
  // What the actors start or close in the background: awaited before the daemon reports itself up,
  // and before the bus name is released on the way out.
  const starting = new Settling();
  const closing = new Settling();
  // Its first verdict is the machine's input; later changes and jumps come from the clockWatch actor.
  const clock = watchClock({ buildTimeMs: BUILD_TIME_MS, caNotBeforeMs: caStartReader(certPaths(config.cert_root).selfCa), log });
  const machine = provideDaemonEffects({
    config,
    log,
    credentials,
    issuer: metrics ? metrics.timeIssuer(issuer) : issuer,
    trustStore,
    stateStore,
    clock,
    conn,
    busCallTimeoutMs: BUS_CALL_TIMEOUT_MS,
    starting,
    closing,
    root: () => actor,
    service: () => service,
  });
  observers.push(logTransitions(log));
  const actor = createActor(machine, {
    input: daemonMachineInput({ config, loaded: loaded.state, trustStore, clock }),
    inspect: (ev) => {
      for (const o of observers) o(ev);
    },
  });

  // The bus name is this daemon's lock: owned before the machine starts (a second instance must
  // not touch the token), released only after the machine and every actor have stopped.
  const service = await exportProvisioningService({
    bus: conn.bus,
    actor,
    log,
    ownName: config.name,
    selfDeadlineMs: seconds(config.token_timeout) * 2 + 5000,
    busCallTimeoutMs: BUS_CALL_TIMEOUT_MS,
    initial: selectPublishedProperties(actor.getSnapshot()),
    beforeSelfReply: () => stateStore.update({ provisioned: actor.getSnapshot().context.provisioned }),
  }).catch(async (err: unknown) => {
    conn.close();
    trustStore.close();
    for (const close of closers) await close();
    throw err;
  });
  live.actor = actor;
  live.owned = !conn.isLost();
  actor.start();
  await starting.settled();
  log.info(`provisioningd owns the bus name; provisioned=${String(loaded.state.provisioned)}`, {
    state: JSON.stringify(actor.getSnapshot().value),
  });

  return {
    actor,
    lost: conn.lost,
    async stop() {
      live.owned = false;
      // Stops the machine and, with it, every actor it invoked or spawned; what they could not
      // close at once (LLDP discovery, the responder watch) is awaited before the name goes.
      actor.stop();
      await closing.settled();
      // With the bus gone there is no name to release: waiting for a reply would only delay the exit.
      if (!conn.isLost()) await service.close().catch((err: unknown) => log.warn(`releasing the bus name: ${String(err)}`));
      // Not actors: the connection every bus actor used, and the token the issuer holds, close last.
      conn.close();
      await stateStore.flushed().catch(() => undefined);
      await issuer.close().catch((err: unknown) => log.warn(`closing the token: ${String(err)}`));
      for (const close of closers) await close().catch(() => undefined);
    },
  };
}
