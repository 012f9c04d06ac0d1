import type { MetricsPart } from './actors/metrics.actor.ts';
import type { Config } from './config/schema.ts';
import { loadInspector, type InspectorPart } from './inspector-part.ts';
import type { Logger } from './log.ts';

/** The daemon's optional parts: loaded only when configured, so that a daemon without them starts faster and smaller. */
export interface DaemonParts {
  readonly metrics?: MetricsPart;
  readonly inspector?: InspectorPart;
}

/** Loads the metrics part when metrics_port is set and the inspector when inspect_port is (with import()). */
export async function loadDaemonParts(config: Config, log: Logger): Promise<DaemonParts> {
  const metrics = config.metrics_port ? await import('./metrics/daemon-metrics-server.ts') : undefined;
  const inspector = config.inspect_port ? await loadInspector(log) : undefined;
  return { ...(metrics ? { metrics } : {}), ...(inspector ? { inspector } : {}) };
}
