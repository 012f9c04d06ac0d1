/**
 * LLDP inside a rack node: lldpd on the node's interface with its own control socket and config
 * (tx-interval 1 s, so that a restarted receiver learns its neighbours within about a second), and
 * the lldp bridge publishing what it sees on the node's private bus.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busctl, eventually, REPO } from './daemon.ts';
import type { Rack, RackNode } from './netns.ts';
import type { PrivateBus } from './private-bus.ts';

/** The LLDP bridge's policy file, which the node's bus must include for the bridge to own its name. */
export const LLDP_BRIDGE_POLICY = join(REPO, 'service/lldp-bridge.conf');

/** A running lldpd: its control socket and process. */
export interface NodeLldpd {
  readonly socket: string;
  readonly process: ChildProcess;
  output(): string;
}

/** Starts lldpd in the node's namespace, announcing the node's name and address every second. */
export function startLldpd(rack: Rack, node: RackNode, dir: string): NodeLldpd {
  // lldpd creates its socket from its privilege-separated side: the directory must be searchable.
  chmodSync(dir, 0o755);
  const socket = join(dir, `${node.name}-lldpd.socket`);
  const conf = join(dir, `${node.name}-lldpd.conf`);
  writeFileSync(
    conf,
    [
      `configure system hostname ${node.name}`,
      `configure system ip management pattern ${rack.managementPattern}`,
      'configure lldp tx-interval 1',
      '',
    ].join('\n'),
  );
  const child = rack.spawn(node, 'lldpd', ['-d', '-u', socket, '-I', node.ifname, '-O', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  return { socket, process: child, output: () => out };
}

/** A running lldp bridge. */
export interface NodeBridge {
  readonly process: ChildProcess;
  output(): string;
}

/** Extras of startLldpBridge: more arguments, and what runs (source by default, or the bundle as the unit runs it). */
export interface LldpBridgeOptions {
  readonly args?: readonly string[];
  readonly entry?: 'src' | 'dist';
}

/** Starts the lldp bridge on `bus`, reading lldpd through `socket`; waits for its name. */
export async function startLldpBridge(rack: Rack, bus: PrivateBus, socket: string, opts: LldpBridgeOptions = {}): Promise<NodeBridge> {
  const program = opts.entry === 'dist' ? [join(REPO, 'dist/lldp-bridge.js')] : ['--import', 'tsx', join(REPO, 'src/lldp/bridge-main.ts')];
  const child = rack.spawn(undefined, process.execPath, [...program, '--socket', socket, '--resync', '5', ...(opts.args ?? [])], {
    cwd: REPO,
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  let dead = false;
  child.once('exit', () => (dead = true));
  const owned = await eventually(async () => dead || (await busctl(bus, 'status', 'xyz.openbmc_project.LLDP')).code === 0, 60_000, 100);
  if (dead || !owned) throw new Error(`the lldp bridge did not own xyz.openbmc_project.LLDP:\n${out}`);
  return { process: child, output: () => out };
}
