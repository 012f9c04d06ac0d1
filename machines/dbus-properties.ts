import type { AnyActorRef, SnapshotFrom } from 'xstate';
import type { peerMachine } from './peer.machine.ts';
import type { provisioningMachine } from './provisioning.machine.ts';

/** The sdbusplus enum prefix of `peerConnected` values. */
export const PEER_CONNECTION_STATUS_PREFIX = 'xyz.openbmc_project.Provisioning.Provisioning.PeerConnectionStatus';

/** The four statuses, lowest first: the aggregate is the highest over all links. */
export const PEER_STATUS_ORDER = ['NotDetermined', 'NotConnected', 'InProgress', 'Connected'] as const;

/** One link's status as D-Bus reports it. */
export type PeerStatus = (typeof PEER_STATUS_ORDER)[number];

/** Exactly what the D-Bus adapter publishes; a pure function of the snapshots. */
export interface DbusProperties {
  readonly provisioned: boolean;
  readonly peerConnected: `${typeof PEER_CONNECTION_STATUS_PREFIX}.${PeerStatus}`;
  /** False while the wall clock is implausible (no certificate is issued then). */
  readonly clockPlausible: boolean;
}

type PeerSnapshot = SnapshotFrom<typeof peerMachine>;
type ProvisioningSnapshot = SnapshotFrom<typeof provisioningMachine>;

/** One outbound link's status from its peer machine's state. */
export function selectPeerStatus(snapshot: Pick<PeerSnapshot, 'matches'>): PeerStatus {
  if (snapshot.matches({ Link: 'Connected' })) return 'Connected';
  // A revoked peer's link is closed and stays closed until a ProvisionPeer.
  if (snapshot.matches('NotConnected') || snapshot.matches('Revoking') || snapshot.matches('Revoked')) return 'NotConnected';
  if (snapshot.matches('Attesting') || snapshot.matches('Provisioned') || snapshot.matches({ Link: 'InProgress' })) {
    return 'InProgress';
  }
  return 'NotDetermined';
}

/** The highest of the given statuses; NotDetermined when there are none. */
export function aggregateStatus(statuses: Iterable<PeerStatus>): PeerStatus {
  let best = 0;
  for (const s of statuses) best = Math.max(best, PEER_STATUS_ORDER.indexOf(s));
  return PEER_STATUS_ORDER[best] ?? 'NotDetermined';
}

function isPeerRef(id: string, ref: AnyActorRef | undefined): ref is AnyActorRef {
  return id.startsWith('peer:') && ref !== undefined;
}

/** Every link's status: each peer's outbound link, plus each peer with an open inbound link. */
export function selectLinkStatuses(snapshot: ProvisioningSnapshot): Record<string, PeerStatus> {
  const out: Record<string, PeerStatus> = {};
  const children = snapshot.children as Record<string, AnyActorRef | undefined>;
  for (const [id, ref] of Object.entries(children)) {
    if (!isPeerRef(id, ref)) continue;
    out[id.slice('peer:'.length)] = selectPeerStatus(ref.getSnapshot() as PeerSnapshot);
  }
  for (const [peer, conns] of Object.entries(snapshot.context.inbound)) {
    if (conns.length) out[`${peer} (inbound)`] = 'Connected';
  }
  // A discovered peer whose LLDP neighbour left is not dialled, and not connected.
  for (const peer of snapshot.context.departed) if (!(peer in out)) out[peer] = 'NotConnected';
  return out;
}

/** The D-Bus projection: `provisioned` is the persisted flag; `peerConnected` the highest link; `clockPlausible` the clock watch's verdict. */
export function selectDbusProperties(snapshot: ProvisioningSnapshot): DbusProperties {
  const status = aggregateStatus(Object.values(selectLinkStatuses(snapshot)));
  return {
    provisioned: snapshot.context.provisioned,
    peerConnected: `${PEER_CONNECTION_STATUS_PREFIX}.${status}`,
    clockPlausible: snapshot.context.clockPlausible,
  };
}

/**
 * What the D-Bus service publishes: the projection, except that `provisioned = true` waits until
 * the flag is on disk (persistProvisioned settled, or read from the state file at start).
 */
export function selectPublishedProperties(snapshot: ProvisioningSnapshot): DbusProperties {
  const props = selectDbusProperties(snapshot);
  return snapshot.context.provisionedPublishable ? props : { ...props, provisioned: false };
}
