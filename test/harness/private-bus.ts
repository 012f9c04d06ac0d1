import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { STARTUP_DEADLINE_MS } from './startup-deadline.ts';

/** The shipped policy files; the private bus includes them exactly as the system bus would. */
export const SHIPPED_POLICIES = [
  resolve(import.meta.dirname, '../../service/xyz.openbmc_project.Provisioning.conf'),
  resolve(import.meta.dirname, '../../service/xyz.openbmc_project.attestation.conf'),
];

/** A running private system-type bus; stop() kills its dbus-daemon by PID. */
export interface PrivateBus {
  readonly address: string;
  readonly pid: number;
  readonly dir: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** The default policy of Debian's /usr/share/dbus-1/system.conf, so tests see production rules. */
const DEFAULT_POLICY = `
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
  </policy>`;

/** Options for a private bus: extra policy files (e.g. the attestation service's) to include. */
export interface PrivateBusOptions {
  readonly policies?: readonly string[];
  readonly dir?: string;
  /**
   * 'system' (default): the system bus's default policy plus the shipped policy files.
   * 'session': an open session bus, for helpers that expect one (tpm2-abrmd).
   */
  readonly kind?: 'system' | 'session';
}

/** An open session-bus policy: anyone may own and call anything. */
const SESSION_POLICY = `
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>`;

/** Starts `dbus-daemon` with a system-type config on a unix:path socket in a fresh temp dir. */
export async function startPrivateBus(opts: PrivateBusOptions = {}): Promise<PrivateBus> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pbus-'));
  // Non-root clients (the policy tests run busctl as nobody) must reach the socket, as on /run/dbus.
  if ((opts.kind ?? 'system') === 'system') chmodSync(dir, 0o755);
  const kind = opts.kind ?? 'system';
  const socket = join(dir, `${kind}_bus_socket`);
  const includes =
    kind === 'system'
      ? [...SHIPPED_POLICIES, ...(opts.policies ?? [])].map((p) => `  <include>${p}</include>`).join('\n')
      : '';
  const configFile = join(dir, `${kind}-bus.conf`);
  writeFileSync(
    configFile,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>${kind}</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
${kind === 'system' ? DEFAULT_POLICY : SESSION_POLICY}
${includes}
</busconfig>
`,
  );
  const child = spawn('dbus-daemon', ['--config-file', configFile, '--nofork', '--nopidfile', '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('dbus-daemon did not start');
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const address = await new Promise<string>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`dbus-daemon printed no address in ${STARTUP_DEADLINE_MS / 1000} s: ${stderr}`)),
      STARTUP_DEADLINE_MS,
    );
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once('line', (line) => {
      clearTimeout(timer);
      rl.close();
      res(line.trim());
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`dbus-daemon exited ${code}: ${stderr}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      rej(new Error(`dbus-daemon did not start: ${err.message}`));
    });
  });
  return {
    address,
    pid,
    dir,
    process: child,
    stop: () => stopProcess(child),
  };
}

/** How long a process may take to go once SIGKILLed (reaped by the kernel, its exit read by node): a net, not a measurement. */
const KILLED_EXIT_DEADLINE_MS = 30_000;

/** Whether a child has exited, or never started (spawn failed: no 'exit' event will come). */
const gone = (child: ChildProcess) => child.pid === undefined || child.exitCode !== null || child.signalCode !== null;

/** A child's name in the harness's errors: its command and PID. */
const nameOf = (child: ChildProcess) => `${child.spawnfile} (pid ${child.pid ?? 'none'})`;

/** Waits for a child's exit; rejects naming the process and `after` (what was done to it) at the deadline. */
export function waitForExit(child: ChildProcess, o: { readonly timeoutMs: number; readonly after: string }): Promise<void> {
  if (gone(child)) return Promise.resolve();
  return new Promise<void>((res, rej) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      rej(new Error(`${nameOf(child)} did not exit within ${o.timeoutMs / 1000} s ${o.after}`));
    }, o.timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      res();
    };
    child.once('exit', onExit);
  });
}

/**
 * Stops a child by its PID: SIGTERM, then SIGKILL after a grace period; rejects naming the process
 * if it has not gone KILLED_EXIT_DEADLINE_MS after the SIGKILL.
 */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (gone(child)) return;
  child.kill('SIGTERM');
  try {
    await waitForExit(child, { timeoutMs: graceMs, after: 'SIGTERM' });
  } catch {
    child.kill('SIGKILL');
    await waitForExit(child, { timeoutMs: KILLED_EXIT_DEADLINE_MS, after: 'SIGKILL' });
  }
}

/** Sends `signal` to the process group `child` leads (spawned with `detached: true`); none left is no error. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // the group is empty already
  }
}

/**
 * Stops a child that leads a process group of its own (a `pnpm -s …` and the node under it) with
 * its whole group, by the group's PID: SIGTERM, then SIGKILL after a grace period; rejects naming
 * the leader if it has not gone KILLED_EXIT_DEADLINE_MS after the SIGKILL.
 */
export async function stopProcessGroup(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (gone(child)) return;
  signalGroup(child, 'SIGTERM');
  try {
    await waitForExit(child, { timeoutMs: graceMs, after: 'SIGTERM to its process group' });
  } catch {
    signalGroup(child, 'SIGKILL');
    await waitForExit(child, { timeoutMs: KILLED_EXIT_DEADLINE_MS, after: 'SIGKILL to its process group' });
  }
}
