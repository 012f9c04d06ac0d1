import { fromCallback } from 'xstate';
import type { Logger } from '../log.ts';
import type { DaemonMetrics } from '../metrics/daemon-metrics.ts';
import type { DaemonLiveState } from '../metrics/daemon-metrics-server.ts';
import type { Settling } from '../util/settling.ts';

/** The metrics part of the daemon, loaded with import() only when metrics_port is set. */
export type MetricsPart = typeof import('../metrics/daemon-metrics-server.ts');

/** What the metrics actor is built from: the loaded part, the metrics it feeds, and what /healthz reads. */
export interface MetricsActorDeps {
  readonly part: MetricsPart;
  readonly metrics: DaemonMetrics;
  readonly port: number;
  readonly log: Logger;
  readonly live: DaemonLiveState;
  /** Listening is start-up work the daemon cannot do without (a port in use fails the start). */
  readonly starting: Settling;
  readonly closing: Settling;
}

/**
 * The root machine's `metrics` actor (metrics_port): serves /metrics and /healthz, and counts link
 * events from the actor system's inspection stream while the daemon runs. Stopping it closes the server.
 */
export function createMetricsActor(deps: MetricsActorDeps) {
  return fromCallback(({ system }) => {
    const subscription = system.inspect(deps.metrics.observer);
    const server = deps.part.serveDaemonMetrics({ port: deps.port, log: deps.log, live: deps.live, metrics: deps.metrics });
    deps.starting.mustSucceed(server);
    return () => {
      subscription.unsubscribe();
      deps.closing.add(server.then((s) => s.close()));
    };
  });
}
