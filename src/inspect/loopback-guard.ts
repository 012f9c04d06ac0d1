/**
 * The inspector answers only requests addressed to it on loopback: a Host header naming another
 * host (DNS rebinding) or a WebSocket from another origin (a web page trying to read the stream)
 * is refused.
 */

/** The host:port forms a browser on this machine uses to reach the inspector. */
export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
}

/** True when the Host header names the inspector itself. */
export function isAllowedHost(host: string | undefined, port: number): boolean {
  return host !== undefined && allowedHosts(port).has(host.toLowerCase());
}

/** True for no Origin (non-browser clients) or an Origin that is the inspector's own page. */
export function isAllowedOrigin(origin: string | undefined, port: number): boolean {
  if (origin === undefined) return true;
  return [...allowedHosts(port)].some((h) => origin.toLowerCase() === `http://${h}`);
}
