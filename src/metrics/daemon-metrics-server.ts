import type { ProvisioningActor } from '../../machines/provisioning.machine.ts';
import type { Logger } from '../log.ts';
import type { DaemonMetrics } from './daemon-metrics.ts';
import { startMetricsServer, type Health, type MetricsServer } from './metrics-server.ts';

export { createDaemonMetrics } from './daemon-metrics.ts';

/** What /healthz reads as the daemon runs: its actor once created, and whether it owns its bus name. */
export interface DaemonLiveState {
  readonly actor?: ProvisioningActor;
  /** True while the bus name is owned (false before and once the bus is lost). */
  readonly owned: boolean;
}

/** /healthz: 200 when the bus name is owned and the statechart is not stopped. */
export function daemonHealth(live: DaemonLiveState): Health {
  if (!live.actor) return { ok: false, reason: 'starting' };
  if (!live.owned) return { ok: false, reason: 'the bus name xyz.openbmc_project.Provisioning is not owned' };
  if (live.actor.getSnapshot().status !== 'active') return { ok: false, reason: 'the statechart is stopped' };
  return { ok: true };
}

/** Serves `metrics` and /healthz on 127.0.0.1:`port` (metrics_port). */
export async function serveDaemonMetrics(opts: { port: number; log: Logger; live: DaemonLiveState; metrics: DaemonMetrics }): Promise<MetricsServer> {
  const log = opts.log.child({ component: 'metrics' });
  const server = await startMetricsServer({ port: opts.port, registry: opts.metrics.registry, health: () => daemonHealth(opts.live), log });
  log.info(`metrics at ${server.url}metrics, health at ${server.url}healthz`);
  return server;
}
