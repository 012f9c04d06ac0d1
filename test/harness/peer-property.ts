import { busctl, SERVICE } from './daemon.ts';
import type { PrivateBus } from './private-bus.ts';

/** The per-peer interface of provisioningd. */
export const PEER_IFACE = 'xyz.openbmc_project.Provisioning.Peer';

/** A per-peer property's value as text (`true`, `5`, or the string itself, UTF-8 intact), read with busctl. */
export async function peerProperty(bus: PrivateBus, path: string, name: string): Promise<string | undefined> {
  const r = await busctl(bus, '--json=short', 'get-property', SERVICE, path, PEER_IFACE, name);
  if (r.code !== 0) return undefined;
  return String((JSON.parse(r.stdout) as { data: unknown }).data);
}
