/** Reading provisioningd's metrics endpoint (metrics_port) in tests. */

/** One request to the metrics server on loopback, with a deadline. */
export const getMetricsPath = async (port: number, path: string, method = 'GET') => {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, signal: AbortSignal.timeout(10_000) });
  return { status: r.status, text: await r.text(), type: r.headers.get('content-type') ?? '' };
};

/** The value of one sample line, e.g. `provisioning_peers{state="Connected"}`. */
export const metricSample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};
