/**
 * Records, from the bus, every change of the per-peer objects of one provisioningd: objects added
 * and removed (ObjectManager signals) and each PropertiesChanged, in order and timestamped. Tests
 * read the timeline instead of polling, so that a short-lived state is never missed.
 */
import dbus from 'dbus-next';
import { addMatch } from '../../src/dbus/bus-call.ts';
import { unescapePathLabel } from '../../src/dbus/object-path-label.ts';
import type { PrivateBus } from './private-bus.ts';

const PEERS = '/xyz/openbmc_project/Provisioning/peers';

/** One recorded change of a peer: its short status (Connected, …), or 'added' / 'removed'. */
export interface PeerStatusChange {
  readonly at: number;
  readonly peer: string;
  readonly status: string;
  readonly lastFailure?: string;
  /** Only lastFailure changed: `status` is the one the peer already had, not a new one. */
  readonly failureOnly?: boolean;
  /** The AttestationRevoked(s) signal with its reason (`status` is the peer's current one). */
  readonly revoked?: string;
  /** A new lastAttested (microseconds since the epoch) (`status` is the peer's current one). */
  readonly lastAttested?: bigint;
}

/** A running recorder. */
export interface PeerStatusRecorder {
  readonly changes: readonly PeerStatusChange[];
  /** The status changes alone (added, removed, peerConnected or lastFailure), without signals and lastAttested. */
  statusChanges(): readonly PeerStatusChange[];
  /** The latest status of a peer, or undefined if it has no object. */
  statusOf(peer: string): string | undefined;
  /** Waits until `check` holds for a change recorded at or after `since`; resolves false after `timeoutMs`. */
  waitFor(check: (c: PeerStatusChange) => boolean, opts: { since: number; timeoutMs: number }): Promise<PeerStatusChange | undefined>;
  close(): void;
}

const short = (s: unknown) => (typeof s === 'string' ? (s.split('.').pop() ?? s) : String(s));
const variant = (v: unknown) => (v instanceof dbus.Variant ? v.value : v);

/** Starts recording on `bus` (the BMC's private bus). */
export async function recordPeerStatus(bus: PrivateBus): Promise<PeerStatusRecorder> {
  const client = dbus.sessionBus({ busAddress: bus.address });
  const changes: PeerStatusChange[] = [];
  const current = new Map<string, string>();
  const waiters = new Set<() => void>();
  const note = (c: PeerStatusChange) => {
    changes.push(c);
    if (c.status === 'removed') current.delete(c.peer);
    else if (c.status !== 'added') current.set(c.peer, c.status);
    for (const w of [...waiters]) w();
  };
  const peerOf = (path: string) => (path.startsWith(`${PEERS}/`) ? (unescapePathLabel(path.slice(PEERS.length + 1)) ?? path) : undefined);
  client.on('message', (msg: dbus.Message) => {
    if (msg.type !== dbus.MessageType.SIGNAL) return;
    const at = Date.now();
    if (msg.member === 'InterfacesAdded') {
      const [path, ifaces] = msg.body as [string, Record<string, Record<string, unknown>>];
      const peer = peerOf(path);
      const props = ifaces['xyz.openbmc_project.Provisioning.Peer'];
      if (!peer || !props) return;
      note({ at, peer, status: 'added' });
      note({ at, peer, status: short(variant(props['peerConnected'])), lastFailure: String(variant(props['lastFailure']) ?? '') });
    } else if (msg.member === 'InterfacesRemoved') {
      const peer = peerOf(String(msg.body[0]));
      if (peer) note({ at, peer, status: 'removed' });
    } else if (msg.member === 'AttestationRevoked') {
      const peer = peerOf(msg.path);
      if (peer) note({ at, peer, status: current.get(peer) ?? 'unknown', revoked: String(msg.body[0]) });
    } else if (msg.member === 'PropertiesChanged') {
      const peer = peerOf(msg.path);
      const changed = msg.body[1] as Record<string, unknown>;
      const attestedAt = variant(changed['lastAttested']);
      if (peer && typeof attestedAt === 'bigint') note({ at, peer, status: current.get(peer) ?? 'unknown', lastAttested: attestedAt });
      if (!peer || !('peerConnected' in changed || 'lastFailure' in changed)) return;
      const failure = 'lastFailure' in changed ? String(variant(changed['lastFailure'])) : undefined;
      // A change of lastFailure alone is recorded with the status the peer already has.
      const status = 'peerConnected' in changed ? short(variant(changed['peerConnected'])) : (current.get(peer) ?? 'unknown');
      note({ at, peer, status, ...(failure !== undefined ? { lastFailure: failure } : {}), ...('peerConnected' in changed ? {} : { failureOnly: true }) });
    }
  });
  const sender = "sender='xyz.openbmc_project.Provisioning'";
  await addMatch(client, `type='signal',${sender},interface='org.freedesktop.DBus.ObjectManager'`, 5000);
  await addMatch(client, `type='signal',${sender},interface='org.freedesktop.DBus.Properties',path_namespace='${PEERS}'`, 5000);
  await addMatch(client, `type='signal',${sender},interface='xyz.openbmc_project.Provisioning.Peer',path_namespace='${PEERS}'`, 5000);
  return {
    changes,
    statusOf: (peer) => current.get(peer),
    statusChanges: () => changes.filter((c) => c.revoked === undefined && c.lastAttested === undefined),
    waitFor(check, opts) {
      return new Promise((resolve) => {
        const scan = () => changes.find((c) => c.at >= opts.since && check(c));
        const hit = scan();
        if (hit) return resolve(hit);
        const timer = setTimeout(() => {
          waiters.delete(onChange);
          resolve(undefined);
        }, opts.timeoutMs);
        const onChange = () => {
          const h = scan();
          if (!h) return;
          clearTimeout(timer);
          waiters.delete(onChange);
          resolve(h);
        };
        waiters.add(onChange);
      });
    },
    close: () => client.disconnect(),
  };
}
