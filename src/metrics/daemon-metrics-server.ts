import type { ProvisioningActor } from '../../machines/provisioning.machine.ts';
import type { CertificateIssuing } from '../actors/issue-certificates.actor.ts';
import type { Logger } from '../log.ts';
import { createDaemonMetrics } from './daemon-metrics.ts';
import { startMetricsServer, type Health } from './metrics-server.ts';

/** What the daemon tells the metrics as it runs: its actor once created, and whether it owns its bus name. */
export interface DaemonLiveState {
  actor?: ProvisioningActor;
  /** True while the bus name is owned (false before the export and once the bus is lost). */
  owned: boolean;
}

/** Metrics as the daemon wires them: an inspection observer, a timed issuer, and close(). */
export interface RunningDaemonMetrics {
  readonly url: string;
  readonly observer: ReturnType<typeof createDaemonMetrics>['observer'];
  timeIssuer<T extends CertificateIssuing>(issuer: T): T;
  close(): Promise<void>;
}

/** /healthz: 200 when the bus name is owned and the statechart is not stopped. */
export function daemonHealth(live: DaemonLiveState): Health {
  if (!live.actor) return { ok: false, reason: 'starting' };
  if (!live.owned) return { ok: false, reason: 'the bus name xyz.openbmc_project.Provisioning is not owned' };
  if (live.actor.getSnapshot().status !== 'active') return { ok: false, reason: 'the statechart is stopped' };
  return { ok: true };
}

/** Starts the metrics server on 127.0.0.1:`port` (metrics_port). */
export async function startDaemonMetrics(opts: { port: number; log: Logger; live: DaemonLiveState }): Promise<RunningDaemonMetrics> {
  const metrics = createDaemonMetrics({ actor: () => opts.live.actor });
  const log = opts.log.child({ component: 'metrics' });
  const server = await startMetricsServer({ port: opts.port, registry: metrics.registry, health: () => daemonHealth(opts.live), log });
  log.info(`metrics at ${server.url}metrics, health at ${server.url}healthz`);
  return { url: server.url, observer: metrics.observer, timeIssuer: (i) => metrics.timeIssuer(i), close: () => server.close() };
}
