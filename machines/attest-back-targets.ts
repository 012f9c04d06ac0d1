import type { KnownPeer } from './provisioning.types.ts';

/** The peers provisioningd knows by address: configured ones and the LLDP neighbours now present. */
export interface KnownPeersByAddress {
  readonly staticPeers: readonly KnownPeer[];
  readonly discovered: Readonly<Record<string, KnownPeer>>;
}

/** `::ffff:192.0.2.1` → `192.0.2.1`: the form the `peers` key uses. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

/**
 * Who to attest back when a requester at `address` has attested this BMC: the static peers
 * configured at that address and the LLDP neighbours announcing it. A neighbour that shares a
 * static peer's name is skipped (the static peer keeps its configured address). Names, in order,
 * each once.
 */
export function attestBackTargets(address: string, known: KnownPeersByAddress): string[] {
  const at = plainAddress(address);
  const names = known.staticPeers.filter((p) => plainAddress(p.address) === at).map((p) => p.name);
  for (const p of Object.values(known.discovered)) {
    if (plainAddress(p.address) !== at || known.staticPeers.some((s) => s.name === p.name) || names.includes(p.name)) continue;
    names.push(p.name);
  }
  return names;
}
