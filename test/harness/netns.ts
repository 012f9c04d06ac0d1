/**
 * A rack of BMCs as Linux network namespaces (root only): N namespaces, each with an `eth1` on
 * one shared segment (a veth pair for two, a bridge in a "switch" namespace for more), addresses
 * only in 169.254.0.0/16. Every namespace and every process started here is removed by teardown(),
 * also when a test failed half-way, and on process exit as a last resort.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stopProcess } from './stop-process.ts';
import { runTool, mustRun } from './run-tool.ts';

/** One BMC's network namespace. */
export interface RackNode {
  /** The BMC name (`bmc-1`, …), also its LLDP SystemName. */
  readonly name: string;
  /** The network namespace name. */
  readonly ns: string;
  /** Its interface on the rack segment (inside the namespace). */
  readonly ifname: string;
  /** Its address on the segment (no prefix length). */
  readonly address: string;
}

/** How a packet-loss impairment was applied: tc netem where the kernel has it, else nftables. */
export type LossMethod = 'tc netem' | 'nftables numgen';

/** A rack under test. */
export interface Rack {
  readonly nodes: readonly RackNode[];
  /** The segment's address pattern, for lldpd's `configure system ip management pattern`. */
  readonly managementPattern: string;
  /** Runs a command inside a node's namespace; never throws on a non-zero exit. */
  exec(node: RackNode, cmd: string, args: readonly string[]): ReturnType<typeof runTool>;
  /** Spawns a long-running process inside a node's namespace (or the root namespace), tracked for teardown. */
  spawn(node: RackNode | undefined, cmd: string, args: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Remembers a process started elsewhere so that teardown stops it too. */
  track(child: ChildProcess): ChildProcess;
  /** `ip link set eth1 down` / `up` in the node's namespace. */
  linkDown(node: RackNode): Promise<void>;
  linkUp(node: RackNode): Promise<void>;
  /** Drops `percent` % of the node's outgoing packets on the segment until clearLoss(). */
  loss(node: RackNode, percent: number): Promise<LossMethod>;
  clearLoss(node: RackNode): Promise<void>;
  teardown(): Promise<void>;
}

/** Options of a rack. */
export interface RackOptions {
  readonly size: number;
  /** Third octet of 169.254.X.0/24 (default 77). */
  readonly subnet?: number;
}

/** Where `ip netns` keeps a named namespace. */
const NETNS_DIR = '/run/netns';
const alive = new Set<string>();
let exitHookInstalled = false;

/** Last resort: a test process that dies without teardown still removes its namespaces. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const ns of alive) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
      } catch {
        // already gone
      }
    }
  });
}

/** Whether this process may create namespaces (root). */
export const canCreateNamespaces = () => process.getuid?.() === 0;

/** Creates the rack: namespaces, links, addresses, loopback up. */
export async function createRack(opts: RackOptions): Promise<Rack> {
  if (!canCreateNamespaces()) throw new Error('the rack harness needs root (ip netns): run the e2e tests as root');
  if (opts.size < 2 || opts.size > 32) throw new Error('a rack has 2..32 BMCs');
  installExitHook();
  const subnet = opts.subnet ?? 77;
  // `pd<pid>_`: the test runner's watchdog (scripts/test-watchdog.mjs) finds the namespaces of a
  // test process it had to kill by this prefix. At most 10 characters, so `${tag}p31` fits IFNAMSIZ.
  const tag = `pd${process.pid.toString(36)}_${Math.floor(Math.random() * 1296).toString(36)}`;
  const namespaces: string[] = [];
  const children: ChildProcess[] = [];
  const nodes: RackNode[] = Array.from({ length: opts.size }, (_, i) => ({
    name: `bmc-${i + 1}`,
    ns: `${tag}-${i + 1}`,
    ifname: 'eth1',
    address: `169.254.${subnet}.${i + 1}`,
  }));
  const ip = (...args: string[]) => mustRun('ip', args, { timeoutMs: 10_000 });
  const addNs = async (ns: string) => {
    await ip('netns', 'add', ns);
    namespaces.push(ns);
    alive.add(ns);
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  };

  const teardown = async () => {
    for (const c of children.splice(0).reverse()) await stopProcess(c, 2000).catch(() => undefined);
    for (const ns of namespaces.splice(0).reverse()) {
      const r = await runTool('ip', ['netns', 'del', ns], { timeoutMs: 10_000 }).catch((err: unknown) => ({ code: -1, stdout: '', stderr: String(err) }));
      // One that is still there stays for the exit hook to try again (an `ip` killed by a signal, a busy mount).
      if (r.code === 0 || !existsSync(join(NETNS_DIR, ns))) alive.delete(ns);
      else process.stderr.write(`rack teardown: ip netns del ${ns} failed (${r.code}): ${r.stderr.trim()}; trying again at exit\n`);
    }
  };

  try {
    for (const n of nodes) await addNs(n.ns);
    const [first, second] = nodes;
    if (nodes.length === 2 && first && second) {
      await ip('link', 'add', `${tag}a`, 'netns', first.ns, 'type', 'veth', 'peer', 'name', `${tag}b`, 'netns', second.ns);
      await ip('-n', first.ns, 'link', 'set', `${tag}a`, 'name', first.ifname);
      await ip('-n', second.ns, 'link', 'set', `${tag}b`, 'name', second.ifname);
    } else {
      const sw = `${tag}-sw`;
      await addNs(sw);
      await ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
      // LLDP frames go to 01:80:c2:00:00:0e, which a standard bridge does not forward: let it (bit 14).
      await ip('-n', sw, 'link', 'set', 'br0', 'type', 'bridge', 'group_fwd_mask', '0x4000');
      await ip('-n', sw, 'link', 'set', 'br0', 'up');
      for (const [i, n] of nodes.entries()) {
        await ip('link', 'add', `${tag}p${i}`, 'netns', sw, 'type', 'veth', 'peer', 'name', `${tag}n${i}`, 'netns', n.ns);
        await ip('-n', n.ns, 'link', 'set', `${tag}n${i}`, 'name', n.ifname);
        await ip('-n', sw, 'link', 'set', `${tag}p${i}`, 'master', 'br0');
        await ip('-n', sw, 'link', 'set', `${tag}p${i}`, 'up');
      }
    }
    for (const n of nodes) {
      await ip('-n', n.ns, 'addr', 'add', `${n.address}/24`, 'dev', n.ifname);
      await ip('-n', n.ns, 'link', 'set', n.ifname, 'up');
    }
  } catch (err) {
    await teardown();
    throw err;
  }

  const track = (child: ChildProcess) => {
    children.push(child);
    return child;
  };
  return {
    nodes,
    managementPattern: `169.254.${subnet}.*`,
    exec: (node, cmd, args) => runTool('ip', ['netns', 'exec', node.ns, cmd, ...args], { timeoutMs: 15_000 }),
    spawn(node, cmd, args, spawnOpts = {}) {
      // `ip netns exec` execs the command in place: the PID is the command's own.
      const child = node ? spawn('ip', ['netns', 'exec', node.ns, cmd, ...args], spawnOpts) : spawn(cmd, [...args], spawnOpts);
      return track(child);
    },
    track,
    linkDown: async (node) => void (await ip('-n', node.ns, 'link', 'set', node.ifname, 'down')),
    linkUp: async (node) => void (await ip('-n', node.ns, 'link', 'set', node.ifname, 'up')),
    async loss(node, percent) {
      const tc = await runTool('ip', ['netns', 'exec', node.ns, 'tc', 'qdisc', 'add', 'dev', node.ifname, 'root', 'netem', 'loss', `${percent}%`]);
      if (tc.code === 0) return 'tc netem';
      // This kernel has no sch_netem: drop the same share of packets with nftables instead.
      const nft = (...args: string[]) => mustRun('ip', ['netns', 'exec', node.ns, 'nft', ...args], { timeoutMs: 10_000 });
      await nft('add', 'table', 'inet', 'rackloss');
      await nft('add', 'chain', 'inet', 'rackloss', 'out', '{ type filter hook output priority 0; policy accept; }');
      await nft('add', 'rule', 'inet', 'rackloss', 'out', 'oifname', node.ifname, 'numgen', 'random', 'mod', '100', '<', String(percent), 'drop');
      return 'nftables numgen';
    },
    async clearLoss(node) {
      await runTool('ip', ['netns', 'exec', node.ns, 'tc', 'qdisc', 'del', 'dev', node.ifname, 'root']);
      await runTool('ip', ['netns', 'exec', node.ns, 'nft', 'delete', 'table', 'inet', 'rackloss']);
    },
    teardown,
  };
}

/** What a TCP connect from inside a namespace ended in: `open`, or the error code (`ECONNREFUSED`, `TIMEOUT`, …). */
export type ConnectOutcome = 'open' | string;

/** Node code run inside the namespace: connect once to argv[1]:argv[2], print the outcome, exit. */
const CONNECT_PROBE = `
const [host, port] = process.argv.slice(1);
const s = require('node:net').connect({ host, port: Number(port) });
const done = (what) => { process.stdout.write(what); s.destroy(); process.exit(0); };
s.setTimeout(5000, () => done('TIMEOUT'));
s.on('connect', () => done('open'));
s.on('error', (e) => done(e.code || e.message));
`;

/** Connects once from `from`'s namespace to host:port (an IPv6 link-local host carries its zone, `fe80::1%eth1`). */
export async function connectFrom(rack: Rack, from: RackNode, host: string, port: number): Promise<ConnectOutcome> {
  const r = await rack.exec(from, process.execPath, ['-e', CONNECT_PROBE, host, String(port)]);
  if (r.code !== 0) throw new Error(`connect probe in ${from.ns} failed: ${r.stderr}`);
  return r.stdout.trim();
}
