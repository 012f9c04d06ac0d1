import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BusFiles, PrivateBus } from './private-bus.ts';
import { firstStdoutLine } from './first-stdout-line.ts';
import { runTool } from './run-tool.ts';
import { STARTUP_DEADLINE_MS } from './startup-deadline.ts';
import { gone, stopProcess } from './stop-process.ts';
import { testCacheDir } from './test-cache.ts';

/** Where the launcher execs the broker from: a path compiled into dbus-broker-launch. */
const SYSTEM_BIN = '/usr/bin';
/** Debian's package of dbus-broker and its launcher. */
const PACKAGE = 'dbus-broker';
/** How long downloading and unpacking the package may take (a net, not a measurement). */
const UNPACK_DEADLINE_MS = 180_000;

/**
 * Where dbus-broker and dbus-broker-launch are: /usr/bin when the package is installed, or else
 * the package unpacked into the test cache, never installed. Installing it would make it the
 * system bus of a machine with systemd at its next boot (Debian enables it as `dbus.service`), which
 * setting up the tests must not do to a developer's machine.
 */
type BrokerBinaries = { readonly bin: string; readonly installed: boolean };

let unpacked: Promise<BrokerBinaries | string> | undefined;

/** The binaries, unpacking the package into the cache the first time (concurrent test files each rename their own into place; the first wins). */
function brokerBinaries(): Promise<BrokerBinaries | string> {
  if (existsSync(join(SYSTEM_BIN, 'dbus-broker')) && existsSync(join(SYSTEM_BIN, 'dbus-broker-launch'))) return Promise.resolve({ bin: SYSTEM_BIN, installed: true });
  unpacked ??= unpackIntoCache();
  return unpacked;
}

/** `apt-get download` and `dpkg-deb -x` into the cache; the reason as a string when that cannot be done here. */
async function unpackIntoCache(): Promise<BrokerBinaries | string> {
  const root = join(testCacheDir(), `${PACKAGE}-deb`);
  const bin = join(root, 'usr/bin');
  if (existsSync(join(bin, 'dbus-broker-launch'))) return { bin, installed: false };
  mkdirSync(testCacheDir(), { recursive: true });
  const work = mkdtempSync(join(testCacheDir(), `.${PACKAGE}-`));
  try {
    const download = await runTool('apt-get', ['download', PACKAGE], { cwd: work, timeoutMs: UNPACK_DEADLINE_MS });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (download.code !== 0 || !deb) return `apt-get download ${PACKAGE} failed: ${download.stderr.trim().split('\n').pop() ?? ''}`;
    const extract = await runTool('dpkg-deb', ['-x', join(work, deb), join(work, 'root')], { timeoutMs: UNPACK_DEADLINE_MS });
    if (extract.code !== 0) return `dpkg-deb -x ${deb} failed: ${extract.stderr.trim()}`;
    try {
      renameSync(join(work, 'root'), root);
    } catch (err) {
      // Another test file unpacked it first.
      if (!existsSync(join(bin, 'dbus-broker-launch'))) throw err;
    }
    return { bin, installed: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Why a private dbus-broker cannot run here, or undefined when it can: root (for the mount
 * namespace it runs in), systemd-socket-activate and unshare, and Debian's dbus-broker package,
 * installed or unpacked into the test cache (done here when missing), whose launcher must run.
 */
export function brokerUnavailable(): Promise<string | undefined> {
  checked ??= checkBroker();
  return checked;
}

/** brokerUnavailable()'s answer, found once per process: every bus of a test file would otherwise ask again. */
let checked: Promise<string | undefined> | undefined;

async function checkBroker(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'a private dbus-broker needs root (a mount namespace of its own)';
  for (const tool of ['systemd-socket-activate', 'unshare']) {
    const r = await runTool('sh', ['-c', `command -v ${tool}`]).catch(() => undefined);
    if (r?.code !== 0) return `${tool} is not installed (bootstrap installs systemd and util-linux)`;
  }
  const binaries = await brokerBinaries().catch((err: unknown) => `unpacking ${PACKAGE}: ${err instanceof Error ? err.message : String(err)}`);
  if (typeof binaries === 'string') return `Debian's ${PACKAGE} package is neither installed nor could be unpacked here: ${binaries}`;
  const version = await runTool(join(binaries.bin, 'dbus-broker-launch'), ['--version']).catch((err: unknown) => ({ code: -1, stdout: '', stderr: String(err) }));
  if (version.code !== 0) return `${join(binaries.bin, 'dbus-broker-launch')} --version failed: ${version.stderr.trim()}`;
  return undefined;
}

/**
 * Outside systemd, dbus-broker-launch needs what systemd would give it, so it runs in a private
 * mount namespace:
 * - the listening socket: systemd-socket-activate passes it, as dbus.socket does;
 * - a journald socket to log to (it stops at once without one): a tmpfs over /run holds a datagram
 *   socket at journald's path, read by `cat` into this bus's stderr; the launcher starts once that
 *   socket exists (on a loaded machine it once started first, and stopped);
 * - the address of the bus it serves (it connects to its own bus as a client);
 * - when the package is only unpacked, its binaries in /usr/bin, where the launcher execs the
 *   broker from: an overlay of the unpacked usr/bin on /usr/bin.
 * The script prints the log reader's PID first, then execs the launcher, which keeps the child's
 * PID; dbus-broker runs as the launcher's child and ends with it.
 * Arguments: $1 socket path, $2 config file, $3 unpacked usr/bin or ''.
 */
const BROKER_SCRIPT = `set -e
if [ -n "$3" ]; then mount -t overlay overlay -o "lowerdir=$3:${SYSTEM_BIN}" ${SYSTEM_BIN}; fi
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal
systemd-socket-activate --datagram --inetd -l /run/systemd/journal/socket sh -c 'exec cat >&2' &
echo "$!"
# The launcher stops at once if the journal socket is not there yet (the reader starts in the background).
i=0
while [ ! -S /run/systemd/journal/socket ]; do
  i=$((i + 1))
  if [ "$i" -gt 600 ]; then echo "the journal socket of the private dbus-broker did not appear within 30 s" >&2; exit 1; fi
  sleep 0.05
done
exec env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$1" systemd-socket-activate -E DBUS_SYSTEM_BUS_ADDRESS -l "$1" dbus-broker-launch --scope system --config-file "$2"
`;

/** How long a private dbus-broker may take to answer (a net, not a measurement). */
const BROKER_READY_MS = STARTUP_DEADLINE_MS;

/** dbus-broker under its launcher, with the same config as dbus-daemon's; ready once it answers as itself. */
export async function startBroker(files: BusFiles): Promise<PrivateBus> {
  const why = await brokerUnavailable();
  if (why) throw new Error(`a private dbus-broker was asked for, but ${why}`);
  const binaries = await brokerBinaries();
  if (typeof binaries === 'string') throw new Error(binaries);
  const overlay = binaries.installed ? '' : binaries.bin;
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', BROKER_SCRIPT, 'broker-bus', files.socket, files.configFile, overlay], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('dbus-broker-launch did not start');
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let readerPid: number | undefined;
  const stop = async () => {
    await stopProcess(child);
    // The log reader ends once the launcher's end of its socket closes; if not, by its PID.
    if (readerPid !== undefined) killQuietly(readerPid);
  };
  try {
    const first = await firstStdoutLine(child, { name: "the private dbus-broker's script", what: "log reader's PID", deadlineMs: BROKER_READY_MS, stderr: () => stderr });
    const reader = Number(first);
    if (!Number.isInteger(reader) || reader <= 0) throw new Error(`the private dbus-broker's script printed ${JSON.stringify(first)}, not a PID: ${stderr}`);
    readerPid = reader;
    const address = `unix:path=${files.socket}`;
    await waitForBroker(address, child, () => stderr);
    // systemd-socket-activate makes the socket 0644; the system bus's socket is open to every user.
    chmodSync(files.socket, 0o666);
    return { address, pid, dir: files.dir, process: child, program: 'dbus-broker', stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Asks the bus for its own PID until it answers, the launcher exits, or the deadline passes; the
 * answer must be the launcher's PID, so a test that passes on this bus ran on dbus-broker.
 */
async function waitForBroker(address: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const end = Date.now() + BROKER_READY_MS;
  for (;;) {
    if (gone(child)) throw new Error(`dbus-broker-launch exited ${child.exitCode ?? child.signalCode}: ${stderr()}`);
    if (existsSync(address.slice('unix:path='.length))) {
      const r = await runTool('busctl', [`--address=${address}`, 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetConnectionUnixProcessID', 's', 'org.freedesktop.DBus'], { timeoutMs: 5_000 });
      if (r.code === 0) {
        if (r.stdout.trim() !== `u ${child.pid}`) throw new Error(`the private bus at ${address} says its PID is ${r.stdout.trim()}, not dbus-broker-launch's ${child.pid}`);
        return;
      }
    }
    if (Date.now() > end) throw new Error(`the private dbus-broker did not answer within ${BROKER_READY_MS / 1000} s: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGKILLs a PID that may be gone already. */
function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
