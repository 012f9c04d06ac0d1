import type { AnyActorRef, SnapshotFrom } from 'xstate';
import { aggregateStatus, PEER_CONNECTION_STATUS_PREFIX, selectPeerStatus, type PeerStatus } from './dbus-properties.ts';
import type { Failure } from './failure.ts';
import type { AttestationVerdict, peerMachine } from './peer.machine.ts';
import type { AttestationHistory } from './reattestation.ts';
import type { provisioningMachine } from './provisioning.machine.ts';

/** What one per-peer D-Bus object shows; a pure function of the snapshots. */
export interface PeerView {
  readonly name: string;
  /** The highest status over this peer's links: our outbound one and its inbound ones. */
  readonly peerConnected: `${typeof PEER_CONNECTION_STATUS_PREFIX}.${PeerStatus}`;
  /** The last failure as `CODE: text`, or '' when the peer has none. */
  readonly lastFailure: string;
  /** This BMC trusts a CA it attested for this peer's name (false for trust placed by the operator). */
  readonly attested: boolean;
  /** When an attestation of this peer last passed, microseconds since the epoch; 0 when never known. */
  readonly lastAttested: number;
  /** `reattest_max_unreachable` re-attestations in a row could not run: its trust rests on an old verdict. */
  readonly attestationStale: boolean;
  /** Revocations of this peer's trust in this run: the D-Bus adapter signals AttestationRevoked for each new one. */
  readonly revocations: number;
  /** How its last attestation in this run ended (persisted; not on D-Bus). */
  readonly lastVerdict?: AttestationVerdict;
}

export type { AttestationHistory } from './reattestation.ts';

type PeerSnapshot = SnapshotFrom<typeof peerMachine>;

/** lastFailure of a discovered peer whose neighbour left. */
export const DEPARTED = 'LLDP_GONE: no longer announced by LLDP; not dialled until it is back';
type ProvisioningSnapshot = SnapshotFrom<typeof provisioningMachine>;

const failureText = (f: Failure | undefined) => (f ? (f.message.startsWith(f.code) ? f.message : `${f.code}: ${f.message}`) : '');

/** One view per peer we know (a peer machine) or that holds an inbound link to us, by name; lastAttested from an earlier run until this one has its own. */
export function selectPeerViews(snapshot: ProvisioningSnapshot): PeerView[] {
  const history: AttestationHistory = snapshot.context.attestationHistory ?? {};
  type Row = {
    statuses: PeerStatus[];
    lastFailure: string;
    attested: boolean;
    lastAttestedMs?: number;
    stale?: boolean;
    revocations?: number;
    verdict?: AttestationVerdict;
  };
  const views = new Map<string, Row>();
  const children = snapshot.children as Record<string, AnyActorRef | undefined>;
  for (const [id, ref] of Object.entries(children)) {
    if (!id.startsWith('peer:') || !ref) continue;
    const peer = ref.getSnapshot() as PeerSnapshot;
    views.set(id.slice('peer:'.length), {
      statuses: [selectPeerStatus(peer)],
      lastFailure: failureText(peer.context.lastError),
      attested: peer.context.attested,
      ...(peer.context.lastAttestedMs !== undefined ? { lastAttestedMs: peer.context.lastAttestedMs } : {}),
      stale: peer.context.attestationStale,
      revocations: peer.context.revocations,
      ...(peer.context.lastVerdict ? { verdict: peer.context.lastVerdict } : {}),
    });
  }
  // A discovered peer whose LLDP neighbour left keeps its object: not dialled, NotConnected, and why.
  for (const name of snapshot.context.departed) {
    if (!views.has(name)) views.set(name, { statuses: ['NotConnected'], lastFailure: DEPARTED, attested: snapshot.context.attestedNames.includes(name) });
  }
  for (const [name, conns] of Object.entries(snapshot.context.inbound)) {
    if (!conns.length) continue;
    const v: Row = views.get(name) ?? { statuses: [], lastFailure: '', attested: snapshot.context.attestedNames.includes(name) };
    v.statuses.push('Connected');
    views.set(name, v);
  }
  return [...views.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, v]) => ({
      name,
      peerConnected: `${PEER_CONNECTION_STATUS_PREFIX}.${aggregateStatus(v.statuses)}` as const,
      lastFailure: v.lastFailure,
      attested: v.attested,
      lastAttested: Math.max(0, Math.round((v.lastAttestedMs ?? history[name]?.lastAttestedMs ?? 0) * 1000)),
      attestationStale: v.stale ?? false,
      revocations: v.revocations ?? 0,
      ...(v.verdict ? { lastVerdict: v.verdict } : {}),
    }));
}
