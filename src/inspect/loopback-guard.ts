/**
 * The inspector answers only requests addressed to a loopback name: a Host header naming another
 * host (DNS rebinding) or a WebSocket from another origin (a web page trying to read the stream,
 * including one served from another port of this machine) is refused. Any port is accepted in the
 * Host header, so that an SSH tunnel may use another local port; the page's Origin then names that
 * same host and port.
 */

/** The host names a browser on this machine (or at a tunnel's end) uses for the inspector. */
const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The host name of a `Host` header value (`name:port`, `[v6]:port`), lower-cased. */
function hostName(hostAndPort: string): string {
  const h = hostAndPort.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** True when the Host header names a loopback address. */
export function isAllowedHost(host: string | undefined): boolean {
  return host !== undefined && LOOPBACK_NAMES.has(hostName(host));
}

/** `host[:port]` as a URL spells it (lower case, no default port), or undefined if it is none. */
function normalHost(hostAndPort: string): string | undefined {
  try {
    return new URL(`http://${hostAndPort.trim()}`).host;
  } catch {
    return undefined;
  }
}

/**
 * True for no Origin (non-browser clients), or an http Origin on a loopback name whose host and
 * port are the request's Host header: a page the inspector itself served, at the address the
 * browser reached it by.
 */
export function isAllowedOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    const u = new URL(origin);
    return u.protocol === 'http:' && LOOPBACK_NAMES.has(u.hostname.toLowerCase()) && host !== undefined && u.host === normalHost(host);
  } catch {
    return false;
  }
}
