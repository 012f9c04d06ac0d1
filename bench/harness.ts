import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import dbus from 'dbus-next';
import { withTimeout } from '../src/util/with-timeout.ts';
import { freePort, REPO } from '../test/harness/daemon.ts';
import type { PrivateBus } from '../test/harness/private-bus.ts';
import { stopProcess } from '../test/harness/stop-process.ts';
import { runTool } from '../test/harness/run-tool.ts';

/** Summary statistics of a set of samples (milliseconds). */
export interface Stats {
  readonly n: number;
  readonly median: number;
  readonly p95: number;
}

/** The q-quantile (0..1) of samples, nearest-rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function stats(samples: readonly number[]): Stats {
  return { n: samples.length, median: quantile(samples, 0.5), p95: quantile(samples, 0.95) };
}

/** One printed figure: `name: value unit (ratio x against)`. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The value divided by the baseline's, and what the baseline is. */
  readonly ratio?: { readonly value: number; readonly against: string };
}

/** Formats a figure the way every benchmark prints it. */
export function formatFigure(f: Figure): string {
  const digits = f.value >= 100 ? 0 : f.value >= 10 ? 1 : 3;
  const ratio = f.ratio ? ` (${f.ratio.value.toFixed(2)}x ${f.ratio.against})` : '';
  return `${f.name}: ${f.value.toFixed(digits)} ${f.unit}${ratio}`;
}

/** Prints median and p95 of a measurement and, if given, its ratio to a baseline measurement. */
export function printStats(opts: { name: string; stats: Stats; baseline?: { name: string; stats: Stats } }): void {
  const { name, stats: s, baseline } = opts;
  for (const key of ['median', 'p95'] as const) {
    const ratio = baseline ? { value: s[key] / baseline.stats[key], against: baseline.name } : undefined;
    console.log(formatFigure({ name: `${name} ${key} (n=${s.n})`, value: s[key], unit: 'ms', ...(ratio ? { ratio } : {}) }));
  }
}

/** Milliseconds taken by one run of `op`. */
export async function timeOnce(op: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await op();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * Measures two operations alternately (a, b, a, b, …) after a warm-up, so that drift in machine
 * load hits both the same way. Each call is bounded by `timeoutMs`.
 */
export async function measurePair(opts: {
  a: () => Promise<unknown>;
  b: () => Promise<unknown>;
  n: number;
  warmup: number;
  timeoutMs: number;
}): Promise<{ a: number[]; b: number[] }> {
  const bounded = (op: () => Promise<unknown>) => () => withTimeout(op(), opts.timeoutMs, 'benchmark operation');
  const a = bounded(opts.a);
  const b = bounded(opts.b);
  for (let i = 0; i < opts.warmup; i++) {
    await a();
    await b();
  }
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < opts.n; i++) {
    out.a.push(await timeOnce(a));
    out.b.push(await timeOnce(b));
  }
  return out;
}

/** Two operations compared: the measured one and its baseline, each printed with median and p95. */
export interface Comparison {
  readonly name: string;
  readonly op: () => Promise<unknown>;
  readonly baselineName: string;
  readonly baseline: () => Promise<unknown>;
  readonly n: number;
  readonly warmup: number;
  readonly timeoutMs: number;
}

/** Measures an operation against its baseline (alternately) and prints both, with the ratio. */
export async function compare(c: Comparison): Promise<void> {
  const r = await measurePair({ a: c.op, b: c.baseline, n: c.n, warmup: c.warmup, timeoutMs: c.timeoutMs });
  const baseline = { name: c.baselineName, stats: stats(r.b) };
  printStats({ name: c.baselineName, stats: baseline.stats });
  printStats({ name: c.name, stats: stats(r.a), baseline });
}

/**
 * Resolves when a bus name gets an owner, from the bus daemon's NameOwnerChanged signal (no polling,
 * so start-up times are not rounded up to a poll interval).
 */
export class NameOwnerWatcher {
  readonly #bus: dbus.MessageBus;
  readonly #waiters = new Map<string, () => void>();

  private constructor(bus: dbus.MessageBus) {
    this.#bus = bus;
  }

  static async connect(busAddress: string, name: string): Promise<NameOwnerWatcher> {
    const bus = dbus.sessionBus({ busAddress });
    const watcher = new NameOwnerWatcher(bus);
    bus.on('message', (msg: dbus.Message) => {
      if (msg.member !== 'NameOwnerChanged' || msg.path !== '/org/freedesktop/DBus') return;
      const [changed, , newOwner] = msg.body as [string, string, string];
      if (newOwner) watcher.#waiters.get(changed)?.();
    });
    await withTimeout(
      bus.call(
        new dbus.Message({
          destination: 'org.freedesktop.DBus',
          path: '/org/freedesktop/DBus',
          interface: 'org.freedesktop.DBus',
          member: 'AddMatch',
          signature: 's',
          body: [`type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${name}'`],
        }),
      ),
      5000,
      'AddMatch NameOwnerChanged',
    );
    return watcher;
  }

  /**
   * Reads one property of `name` and resolves when it is answered: a daemon that owns its name
   * before it serves holds the call until it does, so this times the start to the first answer.
   */
  async answers(name: string, p: PropertyProbe, timeoutMs: number): Promise<void> {
    const get = new dbus.Message({ destination: name, path: p.path, interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss', body: [p.iface, p.property] });
    const reply = await withTimeout(this.#bus.call(get), timeoutMs, `${name} to answer Get ${p.property}`);
    if (reply?.type === dbus.MessageType.ERROR) throw new Error(`${name} answered Get ${p.property} with ${String(reply.errorName)}`);
  }

  /** A promise for the next time `name` gets an owner; call before starting the process. */
  nextOwner(name: string, timeoutMs: number): Promise<void> {
    const owned = new Promise<void>((resolve) => this.#waiters.set(name, resolve));
    return withTimeout(owned, timeoutMs, `${name} to be owned`).finally(() => this.#waiters.delete(name));
  }

  close(): void {
    this.#bus.disconnect();
  }
}

/** A property whose first answer marks a service as serving (read right after the name appears). */
export interface PropertyProbe {
  readonly path: string;
  readonly iface: string;
  readonly property: string;
}

/** A process that owns its bus name, and the milliseconds from spawn until it did (and answered `serves`, when given). */
export interface OwnerStart {
  readonly child: ChildProcess;
  readonly ms: number;
}

/** A `node` process to start until it owns `name` on the bus at `busAddress`. */
export interface OwnerStartSpec {
  readonly busAddress: string;
  readonly watcher: NameOwnerWatcher;
  readonly name: string;
  /** Arguments to `node`, e.g. `[bundle, '--conf', file]`. */
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly timeoutMs: number;
  /** Receives the child as soon as it is spawned, so that the caller stops it by PID whatever happens. */
  readonly track: (child: ChildProcess) => void;
  /** Extra environment (e.g. NODE_COMPILE_CACHE, as the units set it). */
  readonly env?: Readonly<Record<string, string>>;
  /** When given, the time runs on until this property is answered, not only until the name is owned. */
  readonly serves?: PropertyProbe;
}

/** Spawns `node argv` and times it until its bus name is owned (from NameOwnerChanged, no polling), then until `serves` is answered. */
export async function startUntilOwned(spec: OwnerStartSpec): Promise<OwnerStart> {
  let child: ChildProcess | undefined;
  let output = '';
  const owned = spec.watcher.nextOwner(spec.name, spec.timeoutMs);
  const ms = await timeOnce(async () => {
    const c = spawn(process.execPath, [...spec.argv], {
      cwd: spec.cwd,
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: spec.busAddress, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    spec.track(c);
    c.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const died = new Promise<never>((_, reject) =>
      c.once('exit', (code) => reject(new Error(`node ${spec.argv.join(' ')} exited ${String(code)} before owning ${spec.name}:\n${output}`))),
    );
    await Promise.race([owned, died]);
    if (spec.serves) await Promise.race([spec.watcher.answers(spec.name, spec.serves, spec.timeoutMs), died]);
  });
  if (!child) throw new Error('not started');
  return { child, ms };
}

/** Starts as `startUntilOwned` does, stops the process by PID, and returns the milliseconds until its name was owned. */
export async function coldStart(spec: OwnerStartSpec): Promise<number> {
  const { child, ms } = await startUntilOwned(spec);
  await stopProcess(child);
  return ms;
}

/** Builds the production bundle (dist/) with scripts/build.mjs, as `pnpm build` does; throws with its output if it fails. */
export async function buildBundle(): Promise<void> {
  const build = await runTool(process.execPath, [join(REPO, 'scripts/build.mjs')], { cwd: REPO, timeoutMs: 120_000 });
  if (build.code !== 0) throw new Error(`pnpm build failed:\n${build.stdout}${build.stderr}`);
}

/** What a start-up benchmark started and stops whatever happens: its processes, the bus watcher, the private bus, its scratch directory. */
export interface BenchResources {
  readonly children: readonly ChildProcess[];
  readonly watcher: NameOwnerWatcher | undefined;
  readonly bus: PrivateBus | undefined;
  readonly work: string;
}

/** Stops every process by PID, then the watcher and the bus, and removes the bus's and the benchmark's directories. */
export async function releaseBench(r: BenchResources): Promise<void> {
  for (const c of r.children) await stopProcess(c);
  r.watcher?.close();
  await r.bus?.stop();
  if (r.bus) rmSync(r.bus.dir, { recursive: true, force: true });
  rmSync(r.work, { recursive: true, force: true });
}

/** Writes a fresh, not provisioned daemon configuration under `dir` (plus `extra` keys); returns its path. */
export async function writeDaemonConfig(dir: string, extra: Record<string, unknown> = {}): Promise<string> {
  const conf = `${dir}.conf`;
  const config = { name: 'bmc-bench', cert_root: `${join(dir, 'root')}/`, state_dir: join(dir, 'state'), port: await freePort(), ...extra };
  writeFileSync(conf, JSON.stringify(config));
  return conf;
}

/** Lets the machine settle between phases (GC, page cache) so that phases do not bleed into each other. */
export const settle = () => sleep(200);

/**
 * Runs a bench's `main` as the process's whole work: exits 0 when it is done, or prints why it
 * failed (`<name> bench failed: …`) and exits 1, whatever it left running.
 */
export function runBench(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`${name} bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
