import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PrivateBus } from './private-bus.ts';
import { stopProcess } from './stop-process.ts';
import { runTool, type ToolResult } from './run-tool.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { STARTUP_DEADLINE_MS } from './startup-deadline.ts';
import { claimPorts } from './test-ports.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const SERVICE = 'xyz.openbmc_project.Provisioning';
export const OBJECT = '/xyz/openbmc_project/Provisioning';
export const IFACE = 'xyz.openbmc_project.Provisioning.Provisioning';
export const STATUS = 'xyz.openbmc_project.Provisioning.Provisioning.PeerConnectionStatus';

/**
 * A TCP port nobody listens on, for something that will listen on it later (or for a peer that
 * must be found closed): claimed for this test process, outside the kernel's ephemeral range, so
 * no other process is handed it meanwhile (see test-ports.ts).
 */
export function freePort(): Promise<number> {
  return claimPorts(1);
}

/** How long acceptsConnections() waits for an answer to its SYN: loopback answers at once, either way. */
const CONNECT_DEADLINE_MS = 10_000;

/** Whether something accepts TCP connections on host:port (default 127.0.0.1); false when nothing answers within 10 s. */
export function acceptsConnections(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    // A host that drops the SYN (a namespace's address with its link down) would keep it pending for minutes.
    s.setTimeout(CONNECT_DEADLINE_MS, () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** Output of a command run against a bus. */
export type CommandResult = ToolResult;

/** Runs a command with DBUS_SYSTEM_BUS_ADDRESS set, never throwing on a non-zero exit. */
export function onBus(bus: PrivateBus, cmd: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<CommandResult> {
  return runTool(cmd, args, { env: { DBUS_SYSTEM_BUS_ADDRESS: bus.address }, timeoutMs: opts.timeoutMs ?? 30_000 });
}

/** `busctl` exactly as an operator types it (the commands of docs/dbus-api.md), on the private bus. */
export const busctl = (bus: PrivateBus, ...args: string[]) => onBus(bus, 'busctl', args);

/** Reads a property with busctl and returns its value text (e.g. `true`, or the enum string). */
export async function getProperty(bus: PrivateBus, name: 'provisioned' | 'peerConnected' | 'clockPlausible'): Promise<string> {
  const r = await busctl(bus, 'get-property', SERVICE, OBJECT, IFACE, name);
  if (r.code !== 0) throw new Error(`busctl get-property ${name} failed: ${r.stderr}`);
  const text = r.stdout.trim();
  return text.startsWith('s ') ? JSON.parse(text.slice(2)) as string : text.replace(/^b /, '');
}

/**
 * Polls until `check` returns true or the deadline passes; returns whether it did. A slow check
 * that answers after the deadline still counts, but one that never settles (a connection nobody
 * answers) counts as false once it runs `timeoutMs` past the deadline: the wait never depends on the
 * check ending by itself.
 */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<false>((res) => (timer = setTimeout(() => res(false), Math.max(0, end - Date.now()) + timeoutMs)));
    const ok = await Promise.race([Promise.resolve(check()), hung]).finally(() => clearTimeout(timer));
    if (ok) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** How to start a daemon under test. */
export interface DaemonOptions {
  readonly bus: PrivateBus;
  /** Config keys; cert_root, state_dir, port, name and (outside a namespace) listen_addresses get per-test defaults unless given. */
  readonly config?: Record<string, unknown>;
  /** Directory for conf, cert_root and state_dir; a fresh temp dir by default (reuse it to restart). */
  readonly dir?: string;
  readonly env?: Record<string, string>;
  /** `src` runs through tsx (`pnpm -s provisioningd`); `dist` runs the built bundle. */
  readonly entry?: 'src' | 'dist';
  /** Wait until the bus name is owned (default true). */
  readonly waitForName?: boolean;
  /** Write the config text verbatim instead of JSON of `config`. */
  readonly rawConfig?: string;
  /**
   * A command that execs the daemon in place, e.g. `['ip', 'netns', 'exec', NS]` to run it inside a
   * network namespace (the PID stays the daemon's own).
   */
  readonly wrap?: readonly string[];
  /** How long to wait for the bus name (default STARTUP_DEADLINE_MS). */
  readonly startTimeoutMs?: number;
}

/** How long an exited daemon's pipes may stay open (held by a process it started) before exited() settles anyway. */
const OUTPUT_DRAIN_MS = 2000;
/** Default deadline of waitForOutput(): hang protection on a loaded machine, not a timing claim. */
const OUTPUT_DEADLINE_MS = 15_000;
/** Default deadline of exited(): as long as a start may take, so that a test waiting for an exit (after a signal, a lost bus, a bad config) never waits forever. */
const EXIT_DEADLINE_MS = STARTUP_DEADLINE_MS;

/** A daemon process under test; every exit path stops it by PID. */
export interface DaemonHandle {
  readonly pid: number;
  readonly process: ChildProcess;
  readonly dir: string;
  readonly confPath: string;
  readonly config: Record<string, unknown>;
  /** Everything it wrote so far (stdout and stderr): its log reaches the pipe a little after it happens. */
  output(): string;
  /** Waits until output() matches `re` (a log line is read some time after the daemon wrote it); false at the deadline. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<boolean>;
  /**
   * Settles once the process has exited and its output has been read to the end (at most 2 s after
   * the exit); rejects, naming the process, if it has not exited within `timeoutMs` (default 90 s).
   */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `provisioningd --conf FILE` on the private bus and (by default) waits for its bus name. */
export async function startDaemon(opts: DaemonOptions): Promise<DaemonHandle> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pd-'));
  mkdirSync(dir, { recursive: true });
  const config: Record<string, unknown> = {
    name: 'bmc-test',
    cert_root: `${join(dir, 'root')}/`,
    state_dir: join(dir, 'state'),
    port: await freePort(),
    // Outside a namespace there is no eth1: the responder listens on loopback, where the tests dial.
    ...(opts.wrap ? {} : { listen_addresses: ['127.0.0.1'] }),
    ...opts.config,
  };
  const confPath = join(dir, 'provisioning.conf');
  writeFileSync(confPath, opts.rawConfig ?? JSON.stringify(config, null, 2));
  const args =
    (opts.entry ?? 'src') === 'src'
      ? ['--import', 'tsx', join(REPO, 'src/main.ts'), '--conf', confPath]
      : [join(REPO, 'dist/provisioningd.js'), '--conf', confPath];
  const waitForName = opts.waitForName ?? true;
  const handle = await spawnDaemonProcess({
    label: 'daemon',
    args,
    bus: opts.bus,
    env: opts.env,
    busName: SERVICE,
    waitForName,
    ...(opts.wrap ? { wrap: opts.wrap } : {}),
    ...(opts.startTimeoutMs ? { startTimeoutMs: opts.startTimeoutMs } : {}),
    files: { dir, confPath, config },
  });
  if (waitForName) await waitUntilServing(handle, opts.bus, opts.startTimeoutMs ?? STARTUP_DEADLINE_MS);
  return handle;
}

/**
 * provisioningd owns its name before it reads its state (the name is its lock), and holds the calls
 * made meanwhile: a property read is answered once its start is done (state read, trust store
 * ready), which is what "started" means to a test.
 */
async function waitUntilServing(d: DaemonHandle, bus: PrivateBus, timeoutMs: number): Promise<void> {
  const dead = () => d.process.exitCode !== null || d.process.signalCode !== null;
  const serving = await eventually(
    async () => dead() || (await busctl(bus, 'get-property', SERVICE, OBJECT, IFACE, 'provisioned')).code === 0,
    timeoutMs,
    50,
  );
  if (dead() || !serving) {
    await d.stop();
    throw new Error(`daemon owned ${SERVICE} but did not serve:\n${d.output()}`);
  }
}

/** How to run one daemon process under test (provisioningd or attestationd) and wait for its bus name. */
export interface DaemonProcessOptions {
  /** Names the process in the harness's own errors. */
  readonly label: string;
  /** Arguments of `node`. */
  readonly args: readonly string[];
  readonly bus: PrivateBus;
  readonly env?: Record<string, string>;
  readonly busName: string;
  readonly waitForName: boolean;
  /** A command (and its arguments) to run node under, e.g. `ip netns exec NS`. */
  readonly wrap?: readonly string[];
  /** How long to wait for the bus name (default STARTUP_DEADLINE_MS). */
  readonly startTimeoutMs?: number;
  /** Where its config lives, handed back on the handle. */
  readonly files: Pick<DaemonHandle, 'dir' | 'confPath' | 'config'>;
}

/** Spawns a daemon on the private bus and (if asked) waits until it owns its name; every exit path stops it by PID. */
export async function spawnDaemonProcess(o: DaemonProcessOptions): Promise<DaemonHandle> {
  const [wrapCmd, ...wrapArgs] = o.wrap ?? [];
  const child = spawn(wrapCmd ?? process.execPath, wrapCmd ? [...wrapArgs, process.execPath, ...o.args] : o.args, {
    cwd: REPO,
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: o.bus.address, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${o.label} did not start`);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // 'close' comes once the pipes are read to their end too; a grandchild holding them open only delays it up to OUTPUT_DRAIN_MS.
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('close', (code, signal) => res({ code, signal }));
    child.once('exit', (code, signal) => setTimeout(() => res({ code, signal }), OUTPUT_DRAIN_MS).unref());
  });
  const handle: DaemonHandle = {
    pid,
    process: child,
    ...o.files,
    output: () => out,
    waitForOutput: (re, timeoutMs = OUTPUT_DEADLINE_MS) => eventually(() => re.test(out), timeoutMs),
    exited: (timeoutMs = EXIT_DEADLINE_MS) => withTimeout(exit, timeoutMs, `the exit of ${o.label} (pid ${pid})`),
    stop: () => stopProcess(child),
    kill: (signal) => child.kill(signal),
  };
  if (o.waitForName) {
    let dead = false;
    void exit.then(() => (dead = true));
    const owned = await eventually(
      async () => dead || (await busctl(o.bus, 'status', o.busName)).code === 0,
      o.startTimeoutMs ?? STARTUP_DEADLINE_MS,
      50,
    );
    if (dead || !owned) {
      await handle.stop();
      throw new Error(`${o.label} did not own ${o.busName}:\n${out}`);
    }
  }
  return handle;
}
