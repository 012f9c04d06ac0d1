/**
 * Debian bookworm with its own systemd as PID 1, booted in systemd-nspawn (root only): where the
 * package is installed and its units run as on a real system. The root file system is built once
 * with mmdebstrap through apt's configured mirror and cached outside the checkout
 * (`$XDG_CACHE_HOME/provisioningd/rootfs-bookworm-<hash>`, ~300 MB); every container boots it with
 * `--volatile=overlay`, so the cache is never written. Each nspawn runs in a cgroup of its own,
 * removed with everything else nspawn leaves on the host when the container stops.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { eventually } from './daemon.ts';
import type { SystemBus } from './private-bus.ts';
import { stopProcess } from './stop-process.ts';
import { runTool, type ToolResult } from './run-tool.ts';
import { testCacheDir } from './test-cache.ts';

/** What the container image holds besides minbase: systemd and the package's dependencies and companions. */
const ROOTFS_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'iproute2', 'procps', 'libpam-systemd', 'lldpd', 'openssl'];
/**
 * Which program runs the container's system bus: Debian's default dbus-daemon, or dbus-broker,
 * which Debian makes the system bus when it is installed (its unit enabled as the `dbus.service`
 * alias): an image of its own, with that package added.
 */
export type { SystemBus } from './private-bus.ts';
const BUS_PACKAGES: Readonly<Record<SystemBus, readonly string[]>> = { 'dbus-daemon': [], 'dbus-broker': ['dbus-broker'] };
/** The program each system bus's unit runs: the bus answers with its PID for itself (dbus-broker with its launcher's). */
export const SYSTEM_BUS_PROGRAMS: Readonly<Record<SystemBus, string>> = { 'dbus-daemon': '/usr/bin/dbus-daemon', 'dbus-broker': '/usr/bin/dbus-broker-launch' };
/** apt's configured mirrors, which mmdebstrap reads as they are (deb822). */
const APT_SOURCES = '/etc/apt/sources.list.d/debian.sources';
/** The Node the daemons run on inside the container, at the least. */
const MIN_NODE_MAJOR = 22;
/** Building the root file system: ~35 s plus the download on an idle machine; a net, not a measurement. */
const ROOTFS_BUILD_DEADLINE_MS = 20 * 60_000;
/** Booting until `systemctl is-system-running` says running (or degraded); ~1 s on an idle machine. */
const BOOT_DEADLINE_MS = 120_000;
/** One `systemctl` question to a booting container. */
const STATE_ASK_DEADLINE_MS = 10_000;
const CGROUP_HIERARCHIES = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'];

/** Why containers cannot run here, or undefined when they can (the root file system, with `bus` as its system bus, is built first when missing). */
export async function containerUnavailable(bus: SystemBus = 'dbus-daemon'): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'systemd-nspawn needs root';
  for (const tool of ['systemd-nspawn', 'mmdebstrap', 'nsenter']) {
    const r = await runTool('sh', ['-c', `command -v ${tool}`]).catch(() => undefined);
    if (r?.code !== 0) return `${tool} is not installed (bootstrap installs systemd-container and mmdebstrap)`;
  }
  if (!existsSync(APT_SOURCES)) return `no apt sources at ${APT_SOURCES} for mmdebstrap`;
  const node = await containerNode();
  if (typeof node !== 'string') return node.reason;
  // Built here, once, when it can be (the cache outside the checkout); a machine that cannot build
  // it (no mirror reachable, no disk) skips the container tests with the reason instead of failing.
  try {
    await containerRootfs((line) => console.log(`# ${line}`), bus);
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    return `the container root file system could not be built here: ${first}`;
  }
  return undefined;
}

/**
 * The Node binary bound into the containers: `PROVISIONINGD_CONTAINER_NODE`, else the one running
 * this test; it must be Node 22 or newer, as on the image.
 */
export async function containerNode(): Promise<string | { reason: string }> {
  const node = realpathSync(process.env['PROVISIONINGD_CONTAINER_NODE'] ?? process.execPath);
  // Bound alone into the container, it must be the binary itself, not a launcher script.
  const head = Buffer.alloc(4);
  const fd = openSync(node, 'r');
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
    return { reason: `${node} is not an ELF executable (a launcher?): set PROVISIONINGD_CONTAINER_NODE to the Node 22 binary itself` };
  }
  const r = await runTool(node, ['--version']);
  const major = Number(/^v(\d+)\./.exec(r.stdout.trim())?.[1] ?? 0);
  if (major < MIN_NODE_MAJOR) {
    return { reason: `the containers run the daemons on Node >= ${MIN_NODE_MAJOR}; ${node} is ${r.stdout.trim()}: set PROVISIONINGD_CONTAINER_NODE to a Node 22 binary` };
  }
  return node;
}

/** The cached root file system with `bus` as its system bus, built with mmdebstrap when missing (its name carries the package list). */
export async function containerRootfs(log: (line: string) => void, bus: SystemBus = 'dbus-daemon'): Promise<string> {
  const cache = testCacheDir();
  const packages = [...ROOTFS_PACKAGES, ...BUS_PACKAGES[bus]];
  const key = createHash('sha256').update(`bookworm minbase ${packages.join(',')}`).digest('hex').slice(0, 12);
  const rootfs = join(cache, `rootfs-bookworm-${key}`);
  const built = () => existsSync(join(rootfs, 'usr/lib/systemd/systemd'));
  if (built()) return rootfs;
  mkdirSync(cache, { recursive: true });
  // One builder at a time (test files run side by side): the others wait for its tree.
  const lock = `${rootfs}.lock`;
  const deadline = Date.now() + ROOTFS_BUILD_DEADLINE_MS;
  while (!takeLock(lock)) {
    if (Date.now() > deadline) throw new Error(`waited too long for another test's mmdebstrap (${lock})`);
    await new Promise((r) => setTimeout(r, 2000));
    if (built()) return rootfs;
  }
  try {
    if (!built()) await buildRootfs(rootfs, packages, log);
  } finally {
    rmSync(lock, { force: true });
  }
  return rootfs;
}

/** Takes a lock file holding our PID; a lock whose process is gone is taken over. */
function takeLock(lock: string): boolean {
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    let holder = 0;
    try {
      holder = Number(readFileSync(lock, 'utf8').trim() || 0);
    } catch {
      return false; // released meanwhile: try again
    }
    if (holder > 0 && holder !== process.pid && processAlive(holder)) return false;
    rmSync(lock, { force: true });
    return false;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** mmdebstrap into a temporary folder, renamed into place once complete. */
async function buildRootfs(rootfs: string, packages: readonly string[], log: (line: string) => void): Promise<void> {
  const building = `${rootfs}.building-${process.pid}`;
  log(`building the container root file system ${rootfs} with mmdebstrap (once; ~35 s plus the download)`);
  const args = ['--variant=minbase', `--include=${packages.join(',')}`, 'bookworm', building, APT_SOURCES];
  const r = await runTool('mmdebstrap', args, { timeoutMs: ROOTFS_BUILD_DEADLINE_MS });
  if (r.code !== 0) {
    rmSync(building, { recursive: true, force: true });
    throw new Error(`mmdebstrap ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-4000)}`);
  }
  rmSync(rootfs, { recursive: true, force: true });
  renameSync(building, rootfs);
}

/** A booted container. */
export interface Container {
  readonly name: string;
  /** The container's PID 1, as the host sees it. */
  readonly pid1: number;
  /** Runs a command inside (all namespaces of PID 1); never throws on a non-zero exit. */
  exec(cmd: string, args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<ToolResult>;
  /** `exec('sh', ['-c', script])`, throwing with the output when it fails. */
  sh(script: string, opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** What nspawn and the container's console printed so far. */
  console(): string;
  /** Powers it off (SIGTERM to nspawn, SIGKILL after a grace) and removes what nspawn left on the host. */
  stop(): Promise<void>;
}

/** How to boot one container. */
export interface ContainerOptions {
  readonly name: string;
  readonly rootfs: string;
  /** The Node binary, bound read-only to /usr/bin/node. */
  readonly node: string;
  /** Host folders bound read-only: host path → container path. */
  readonly bindRo?: Readonly<Record<string, string>>;
  /** A network namespace (`ip netns` name) to use; default: a private network with only loopback. */
  readonly netns?: string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Boots a container and waits until its systemd reports the system running (or degraded). */
export async function bootContainer(opts: ContainerOptions): Promise<Container> {
  const cgroup = `provisioningd-test-${opts.name}-${process.pid}`;
  const network = opts.netns ? [`--network-namespace-path=/run/netns/${opts.netns}`] : ['--private-network'];
  const binds = Object.entries(opts.bindRo ?? {}).map(([from, to]) => `--bind-ro=${from}:${to}`);
  const nspawn = [
    'systemd-nspawn', '-D', opts.rootfs, '-b', '--register=no', '--keep-unit', '--console=pipe', '-M', opts.name,
    '--volatile=overlay', ...network, `--bind-ro=${opts.node}:/usr/bin/node`, ...binds,
  ];
  // With --keep-unit nspawn makes its payload/supervisor cgroups below its own: give it one per container.
  const enter = CGROUP_HIERARCHIES.filter((h) => existsSync(h))
    .map((h) => `mkdir -p ${h}/${cgroup} && echo $$ > ${h}/${cgroup}/cgroup.procs`)
    .join(' && ');
  const child = spawn('sh', ['-c', `${enter} && exec "$@"`, 'sh', ...nspawn], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const removeLeftovers = () => {
    for (const h of CGROUP_HIERARCHIES) removeCgroupTree(join(h, cgroup));
    // nspawn's lock and propagation folders: only when no other container still uses them.
    if (existsSync('/run/systemd/nspawn/propagate') && readdirSync('/run/systemd/nspawn/propagate').length === 0) {
      rmSync('/run/systemd/nspawn', { recursive: true, force: true });
    }
  };
  const stop = async () => {
    await stopProcess(child, 20_000);
    running.delete(child);
    removeLeftovers();
  };
  const pidOfInit = async (): Promise<number | undefined> => {
    if (child.exitCode !== null) throw new Error(`systemd-nspawn exited ${child.exitCode}:\n${output}`);
    // nspawn's first child is a short-lived helper that forks the container's init and exits:
    // PID 1 is the child that is 1 in a namespace of its own (`NSpid: <host pid> 1`).
    const r = await runTool('pgrep', ['-P', String(child.pid)]);
    return r.stdout
      .trim()
      .split('\n')
      .map(Number)
      .find((pid) => pid > 0 && isNamespaceInit(pid));
  };
  try {
    let pid1: number | undefined;
    const found = await eventually(async () => {
      pid1 = await pidOfInit();
      return pid1 !== undefined;
    }, BOOT_DEADLINE_MS, 100);
    if (!found || pid1 === undefined) throw new Error(`the container's PID 1 did not appear:\n${output}`);
    const init = pid1;
    const exec = (cmd: string, args: readonly string[], o: { input?: string; timeoutMs?: number } = {}) =>
      runTool('nsenter', ['-t', String(init), '-a', cmd, ...args], { timeoutMs: o.timeoutMs ?? 60_000, ...(o.input !== undefined ? { input: o.input } : {}) });
    const sh = async (script: string, o: { input?: string; timeoutMs?: number } = {}) => {
      const r = await exec('sh', ['-c', script], o);
      if (r.code !== 0) throw new Error(`in ${opts.name}: ${script}\nexited ${r.code}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    // Polled, each ask with a short deadline of its own: `is-system-running --wait` can miss the
    // StartupFinished signal when it asks while PID 1 is still early, and then waits forever.
    let state = '(not asked yet)';
    const booted = await eventually(async () => {
      const r = await exec('systemctl', ['is-system-running'], { timeoutMs: STATE_ASK_DEADLINE_MS });
      state = r.stdout.trim() || r.stderr.trim() || `exit ${r.code}`;
      return ['running', 'degraded'].includes(r.stdout.trim());
    }, BOOT_DEADLINE_MS, 250);
    if (!booted) {
      const jobs = await exec('systemctl', ['list-jobs', '--no-pager'], { timeoutMs: STATE_ASK_DEADLINE_MS });
      const boot = await exec('journalctl', ['-b', '--no-pager', '-n', '60'], { timeoutMs: STATE_ASK_DEADLINE_MS });
      throw new Error(
        `${opts.name} did not boot within ${BOOT_DEADLINE_MS / 1000} s: system state ${state}\n` +
          `jobs:\n${jobs.stdout}${jobs.stderr}\njournal:\n${boot.stdout}${boot.stderr}\nconsole:\n${output}`,
      );
    }
    return { name: opts.name, pid1: init, exec, sh, console: () => output, stop };
  } catch (err) {
    await withTimeout(stop(), 30_000, 'stopping a container that did not boot').catch(() => undefined);
    throw err;
  }
}

/** Whether a process is PID 1 of a PID namespace below ours (its NSpid line ends in 1). */
function isNamespaceInit(pid: number): boolean {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('NSpid:'));
    const ids = line?.split(/\s+/).slice(1).filter(Boolean) ?? [];
    return ids.length >= 2 && ids.at(-1) === '1';
  } catch {
    return false; // gone meanwhile
  }
}

/** Removes a cgroup folder and those below it, deepest first (cgroup folders are removed with rmdir). */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  }
  try {
    rmdirSync(dir);
  } catch {
    // still has a process: nspawn did not stop, the exit hook kills it
  }
}

/** `pnpm package` (into `out`, default pkg/), returning the .deb's path (its last line of output). */
export async function buildPackage(repo: string, out?: string): Promise<string> {
  const r = await runTool(process.execPath, [join(repo, 'scripts/package.mjs'), ...(out ? ['--out', out] : [])], { cwd: repo, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`pnpm package exited ${r.code}:\n${r.stdout}${r.stderr}`);
  const deb = r.stdout.trim().split('\n').at(-1) ?? '';
  if (!deb.endsWith('.deb') || !existsSync(deb)) throw new Error(`pnpm package's last line is not a .deb: ${deb}`);
  return deb;
}

/** Reads a systemd unit's properties inside a container (`systemctl show -p …`). */
export async function unitProperties(c: Container, unit: string, props: readonly string[]): Promise<Record<string, string>> {
  const out = await c.sh(`systemctl show ${unit} ${props.map((p) => `-p ${p}`).join(' ')}`);
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** What waitForUnit waits for: a unit's properties passing `check`. */
export interface UnitWait {
  readonly unit: string;
  /** The awaited state in words, for the failure message. */
  readonly what: string;
  readonly props: readonly string[];
  readonly check: (p: Record<string, string>) => boolean;
  readonly deadlineMs: number;
}

/** Asks `systemctl show` until the properties pass the check, and returns them; throws with them and the unit's last journal lines at the deadline. */
export async function waitForUnit(c: Container, wait: UnitWait): Promise<Record<string, string>> {
  let last: Record<string, string> = {};
  const ok = await eventually(async () => {
    last = await unitProperties(c, wait.unit, wait.props);
    return wait.check(last);
  }, wait.deadlineMs, 250);
  if (!ok) {
    const lines = (await c.exec('journalctl', ['--no-pager', '-n', '30', '-u', wait.unit])).stdout;
    throw new Error(`${wait.unit}: ${wait.what}; now ${JSON.stringify(last)}\n${lines}`);
  }
  return last;
}

/** What a package test asks of the container it booted in `before`: the container, a unit's properties, a wait for a unit's state. */
export interface BootedUnits {
  container(): Container;
  show(unit: string, ...props: string[]): Promise<Record<string, string>>;
  waitFor(unit: string, what: string, check: (p: Record<string, string>) => boolean, props: string[]): Promise<Record<string, string>>;
}

/** BootedUnits over the container `get` returns once booted (an error before), each wait bounded by `deadlineMs`. */
export function bootedUnits(get: () => Container | undefined, deadlineMs: number): BootedUnits {
  const container = () => {
    const c = get();
    if (!c) throw new Error('the container did not boot');
    return c;
  };
  return {
    container,
    show: (unit, ...props) => unitProperties(container(), unit, props),
    waitFor: (unit, what, check, props) => waitForUnit(container(), { unit, what, check, props, deadlineMs }),
  };
}

/** The journal of one unit as JSON entries (`journalctl -o json`). */
export async function journal(c: Container, unit: string): Promise<Array<Record<string, unknown>>> {
  const out = await c.sh(`journalctl -o json --no-pager -u ${unit}`);
  return out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** What every package container test boots: the Node binary, the freshly built .deb, the root file system. */
export interface PackageContainerInputs {
  readonly node: string;
  readonly deb: string;
  /** The .deb's folder (this test's own), to bind read-only into a container. */
  readonly debDir: string;
  readonly rootfs: string;
  /** Removes debDir. */
  remove(): void;
}

/** Builds the package and finds (or builds) the rest, with `bus` as the system bus; throws when this machine cannot boot containers. */
export async function packageContainerInputs(repo: string, bus: SystemBus = 'dbus-daemon'): Promise<PackageContainerInputs> {
  const node = await containerNode();
  if (typeof node !== 'string') throw new Error(node.reason);
  // A folder of its own: another test building the package at the same time rewrites pkg/.
  const debDir = mkdtempSync(join(tmpdir(), 'provisioningd-pkg-'));
  try {
    const deb = await buildPackage(repo, debDir);
    const rootfs = await containerRootfs((line) => console.log(`# ${line}`), bus);
    return { node, deb, debDir, rootfs, remove: () => rmSync(debDir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(debDir, { recursive: true, force: true });
    throw err;
  }
}

/** A container booted with the freshly built packages bound read-only at /mnt/pkg. */
export interface PackageContainer {
  readonly container: Container;
  /** The provisioningd .deb as the container sees it (/mnt/pkg/<file>). */
  readonly deb: string;
  /** Stops the container and removes the package's folder. */
  stop(): Promise<void>;
}

/** How to boot a package container. */
export interface PackageContainerOptions {
  readonly name: string;
  /** The system bus's program (default dbus-daemon). */
  readonly bus?: SystemBus;
}

/** Builds the package and boots a container with it at /mnt/pkg, not installed yet. */
export async function bootPackageContainer(repo: string, opts: PackageContainerOptions): Promise<PackageContainer> {
  const { name, bus = 'dbus-daemon' } = opts;
  const inputs = await packageContainerInputs(repo, bus);
  try {
    const container = await bootContainer({ name, rootfs: inputs.rootfs, node: inputs.node, bindRo: { [inputs.debDir]: '/mnt/pkg' } });
    return {
      container,
      deb: `/mnt/pkg/${basename(inputs.deb)}`,
      stop: async () => {
        await container.stop();
        inputs.remove();
      },
    };
  } catch (err) {
    inputs.remove();
    throw err;
  }
}

/** Who owns `name` on a container's system bus, as busctl prints it (`u <pid>`); empty when nobody does. */
export async function busOwnerPid(c: Container, name: string): Promise<string> {
  const r = await c.exec('busctl', ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetConnectionUnixProcessID', 's', name]);
  return r.stdout.trim();
}

/** The program running a container's system bus: the executable of the PID the bus gives for itself. */
export async function systemBusProgram(c: Container): Promise<string> {
  const pid = /^u (\d+)$/.exec(await busOwnerPid(c, 'org.freedesktop.DBus'))?.[1];
  if (!pid) throw new Error(`${c.name}: the bus gave no PID for itself`);
  return (await c.sh(`readlink /proc/${pid}/exe`)).trim();
}
