/**
 * Whole BMCs in a rack: for each namespace its own private bus (with the shipped policies), lldpd,
 * the lldp bridge and provisioningd running inside the namespace, plus a recorder of its per-peer
 * objects. Everything is stopped by PID through the rack's teardown.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PEER_INTERFACE, peerObjectPath } from '../../src/dbus/peer-objects.ts';
import { busctl, eventually, IFACE, OBJECT, SERVICE, startDaemon, type DaemonHandle } from './daemon.ts';
import { daemonTrustDir } from './daemon-trust-dir.ts';
import type { Rack, RackNode } from './netns.ts';
import { LLDP_BRIDGE_POLICY, startLldpBridge, startLldpd, type NodeBridge, type NodeLldpd } from './netns-lldp.ts';
import { recordPeerStatus, type PeerStatusChange, type PeerStatusRecorder } from './peer-status-recorder.ts';
import { startPrivateBus, type PrivateBus } from './private-bus.ts';
import { selfProvisioningFilesExist } from './self-provisioning-files.ts';

/** One BMC of the rack with everything it runs. */
export interface RackBmc {
  readonly node: RackNode;
  readonly bus: PrivateBus;
  readonly dir: string;
  readonly config: Record<string, unknown>;
  lldpd: NodeLldpd;
  bridge: NodeBridge;
  daemon: DaemonHandle;
  recorder: PeerStatusRecorder;
}

/** Deadline of a rack step that includes an attestation round trip each way, on a loaded machine (hang protection only). */
export const RACK_ATTEST_STEP_MS = 60_000;
/**
 * Deadline of a rack link step. The keep-alive window is keepalive_interval + keepalive_timeout =
 * 1.5 s (idle_timeout 3 s inbound) and retries are at most 1 s apart; the deadline leaves room for
 * a loaded machine. How long each step really takes is measured in bench/rack.bench.ts.
 */
export const RACK_LINK_STEP_MS = 20_000;

/** Peer-link timings short enough for tests: a silent link is down within 1.5 s, retries ≤ 1 s apart. */
export const RACK_LINK_CONFIG = { keepalive_interval: 0.5, keepalive_timeout: 1, idle_timeout: 3, handshake_timeout: 2, retry_base: 0.2, retry_timer: 1 };

/** How a rack daemon is started: what its environment adds, and whether it runs from source (the default) or the bundle (dist/, built beforehand). */
export interface RackDaemonStart {
  readonly env?: Record<string, string> | undefined;
  readonly entry?: 'src' | 'dist' | undefined;
}

/** Starts provisioningd inside the node's namespace (again, after a kill). */
export async function startRackDaemon(rack: Rack, bmc: Pick<RackBmc, 'node' | 'bus' | 'dir' | 'config'>, start: RackDaemonStart = {}): Promise<DaemonHandle> {
  const { env, entry = 'src' } = start;
  const daemon = await startDaemon({ bus: bmc.bus, dir: bmc.dir, config: bmc.config, wrap: ['ip', 'netns', 'exec', bmc.node.ns], startTimeoutMs: 60_000, entry, ...(env ? { env } : {}) });
  rack.track(daemon.process);
  return daemon;
}

/** Extras of startRackBmcs: an environment for one BMC's provisioningd (e.g. a CPU profile of one daemon), and what runs, provisioningd and the lldp bridge (source by default). */
export interface RackBmcOptions {
  readonly daemonEnv?: (index: number) => Record<string, string> | undefined;
  readonly entry?: 'src' | 'dist';
}

/** Starts every BMC of the rack; `extraConfig` is merged into each daemon's configuration. */
export async function startRackBmcs(rack: Rack, dir: string, buses: PrivateBus[], extraConfig: Record<string, unknown> = {}, opts: RackBmcOptions = {}): Promise<RackBmc[]> {
  const out: RackBmc[] = [];
  for (const [index, node] of rack.nodes.entries()) {
    const bus = await startPrivateBus({ policies: [LLDP_BRIDGE_POLICY] });
    buses.push(bus);
    const bmcDir = join(dir, node.name);
    mkdirSync(bmcDir, { recursive: true });
    const lldpd = startLldpd(rack, node, dir);
    const bridge = await startLldpBridge(rack, bus, lldpd.socket, { entry: opts.entry });
    const config = {
      name: node.name,
      port: 8090,
      interface_id: node.ifname,
      cert_root: `${join(bmcDir, 'root')}/`,
      state_dir: join(bmcDir, 'state'),
      ...RACK_LINK_CONFIG,
      ...extraConfig,
    };
    const recorder = await recordPeerStatus(bus);
    const daemon = await startRackDaemon(rack, { node, bus, dir: bmcDir, config }, { env: opts.daemonEnv?.(index), entry: opts.entry });
    out.push({ node, bus, dir: bmcDir, config, lldpd, bridge, daemon, recorder });
  }
  return out;
}

/** `busctl call … ProvisionPeer s <id>` on the BMC's bus; throws with busctl's message if it fails. */
export async function provisionPeer(bmc: RackBmc, id: string): Promise<void> {
  const r = await busctl(bmc.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', id);
  if (r.code !== 0) throw new Error(`${bmc.node.name}: ProvisionPeer ${id}: ${r.stderr.trim()}`);
  if (id === 'self' && !(await eventually(() => selfProvisioningFilesExist(String(bmc.config['cert_root'])), 30_000))) {
    throw new Error(`${bmc.node.name}: no certificates after ProvisionPeer self`);
  }
}

/** The PEM files in the BMC's trust store (its trust_dir); none when it does not exist yet. */
export function trustedCaFiles(bmc: RackBmc): string[] {
  const dir = daemonTrustDir(bmc.config);
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.pem')) : [];
}

/** A property of `of`'s per-peer object for `peer`, as busctl prints it (`b true`, `s "…"`). */
export async function peerProperty(of: RackBmc, peer: RackBmc, name: string): Promise<string> {
  const r = await busctl(of.bus, 'get-property', SERVICE, peerObjectPath(peer.node.name), PEER_INTERFACE, name);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** The last 40 lines of each BMC's provisioningd and attestationd, for a failure message. */
export function rackLogs(bmcs: readonly RackBmc[], attestationds: readonly { readonly daemon: { output(): string } }[]): string {
  const tail = (s: string | undefined) => (s ?? '').split('\n').slice(-40).join('\n');
  return bmcs
    .map((b, i) => `--- ${b.node.name}\n${tail(b.daemon.output())}\n--- ${b.node.name} attestationd\n${tail(attestationds[i]?.daemon.output())}`)
    .join('\n');
}

/** One state change of a peer machine, as the BMC's transition log has it. */
export interface LoggedPeerState {
  /** When the daemon logged it (its timestamp, epoch ms). */
  readonly at: number;
  /** The state value as JSON, e.g. `{"Link":{"Connected":"Trusted"}}`. */
  readonly state: string;
  /** The event that caused it, e.g. `LINK_UP` or `xstate.after.retryBackoff.peer.NotConnected.Refused`. */
  readonly event: string;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every state change of `of`'s machine for `peer` that `of` logged at or after `since` (epoch ms; same host clock), oldest first. */
export function peerStatesLogged(of: RackBmc, peer: RackBmc, since = 0): LoggedPeerState[] {
  const line = new RegExp(`^(\\S+) info +peer ${escapeRe(peer.node.name)} state (\\S+) .*?event=(\\S+)`, 'gm');
  return [...of.daemon.output().matchAll(line)]
    .map((m) => ({ at: Date.parse(m[1] ?? ''), state: m[2] ?? '', event: m[3] ?? '' }))
    .filter((s) => s.at >= since);
}

/** The state `of`'s own machine for `peer` last logged: `{"Link":{"Connected":…}}` while its outbound link is up. */
export const ownLinkState = (of: RackBmc, peer: RackBmc): string | undefined => peerStatesLogged(of, peer).at(-1)?.state;

/** A logged peer state is one with the outbound link up (re-attesting or not). */
export const isLinkUpState = (state: string | undefined): boolean => state?.startsWith('{"Link":{"Connected":') === true;

/** One wait of a rack test: `of`'s per-peer object for `peer` reporting `status`, at or after `since`. */
export interface PeerStatusWait {
  readonly of: RackBmc;
  readonly peer: RackBmc;
  readonly status: string;
  readonly since: number;
  readonly timeoutMs: number;
  /** Names the step in the failure message. */
  readonly what: string;
  /** The logs to show when the wait fails. */
  readonly logs: () => string;
}

/** Waits for a per-peer status; a failure names the step, the peer's status timeline and the logs. */
export async function expectPeerStatus(w: PeerStatusWait): Promise<PeerStatusChange> {
  const hit = await w.of.recorder.waitFor(
    (c) => c.peer === w.peer.node.name && c.status === w.status && !c.failureOnly && c.revoked === undefined && c.lastAttested === undefined,
    { since: w.since, timeoutMs: w.timeoutMs },
  );
  const timeline = w.of.recorder.statusChanges().filter((c) => c.peer === w.peer.node.name).map((c) => c.status);
  assert.ok(hit, `${w.what}: ${w.of.node.name} never saw ${w.peer.node.name} ${w.status}; timeline ${JSON.stringify(timeline)}\n${w.logs()}`);
  return hit;
}

/** Stops a rack test's BMCs: recorders, every process by PID with the namespaces, the buses, the files. */
export async function stopRackBmcs(o: { readonly rack: Rack | undefined; readonly bmcs: readonly RackBmc[]; readonly buses: readonly PrivateBus[]; readonly dir: string }): Promise<void> {
  for (const b of o.bmcs) b.recorder.close();
  await o.rack?.teardown();
  for (const b of o.buses) await b.stop();
  rmSync(o.dir, { recursive: true, force: true });
}
