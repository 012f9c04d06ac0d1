import type { ProvisioningContext } from './provisioning.types.ts';

type PeerTables = Pick<ProvisioningContext, 'peerNames' | 'staticPeers' | 'discovered'>;

/** The peers that exist only because ProvisionPeer named them: neither a static peer nor an LLDP neighbour now. */
export function requestedPeers(context: PeerTables): string[] {
  return context.peerNames.filter((n) => !(n in context.discovered) && !context.staticPeers.some((p) => p.name === n));
}

/**
 * Whether ProvisionPeer(id) stays within `max_requested_peers`: a peer this BMC already knows
 * (running, static, discovered) is always attested on request; a new name only while fewer peers
 * than the cap exist through ProvisionPeer alone.
 */
export function roomForRequestedPeer(context: PeerTables & Pick<ProvisioningContext, 'maxRequestedPeers'>, id: string): boolean {
  if (context.peerNames.includes(id) || id in context.discovered || context.staticPeers.some((p) => p.name === id)) return true;
  return requestedPeers(context).length < context.maxRequestedPeers;
}
