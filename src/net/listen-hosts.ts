import { isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

/** What os.networkInterfaces() returns: the addresses of each interface that has one. */
export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * The hosts a listener binds for one interface: each of its addresses, an IPv6 link-local one with
 * its zone (`fe80::1%eth1`, which only binds with it). Sorted, so that two readings compare equal.
 */
export function interfaceListenHosts(table: InterfaceTable, interfaceId: string): string[] {
  const hosts = (table[interfaceId] ?? []).map((a) => (a.family === 'IPv6' && isLinkLocalV6(a.address) ? `${a.address}%${interfaceId}` : a.address));
  return [...new Set(hosts)].sort();
}

/** fe80::/10. */
function isLinkLocalV6(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

/** Whether `text` is a listen address: an IPv4 or IPv6 address, the latter optionally with a zone (`%eth1`). */
export function isListenAddress(text: string): boolean {
  const [address = '', zone, ...rest] = text.split('%');
  if (rest.length > 0) return false;
  if (zone === undefined) return isIP(address) !== 0;
  return isIP(address) === 6 && /^[A-Za-z0-9_.:-]{1,15}$/.test(zone);
}

/** `host:port` as a log names it (`[fe80::1%eth1]:8090`). */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
