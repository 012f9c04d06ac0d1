import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { firstStdoutLine } from './first-stdout-line.ts';
import { startBroker } from './private-broker.ts';
import { stopProcess } from './stop-process.ts';
import { STARTUP_DEADLINE_MS } from './startup-deadline.ts';

/** The shipped policy files; the private bus includes them exactly as the system bus would. */
export const SHIPPED_POLICIES = [
  resolve(import.meta.dirname, '../../service/xyz.openbmc_project.Provisioning.conf'),
  resolve(import.meta.dirname, '../../service/xyz.openbmc_project.attestation.conf'),
];

/** The two system buses a BMC runs: the reference dbus-daemon, or dbus-broker (OpenBMC's usual one). */
export type SystemBus = 'dbus-daemon' | 'dbus-broker';

/**
 * The environment variable that makes the private buses of a test process dbus-brokers
 * (`test/integration/*.dbus-broker.test.ts` set it before importing the file they run again).
 */
export const TEST_BUS_ENV = 'PROVISIONINGD_TEST_BUS';

/** The program of this process's private buses: TEST_BUS_ENV, or dbus-daemon when unset. */
export function testBusProgram(): SystemBus {
  const value = process.env[TEST_BUS_ENV];
  if (value === undefined || value === '' || value === 'dbus-daemon') return 'dbus-daemon';
  if (value === 'dbus-broker') return value;
  throw new Error(`${TEST_BUS_ENV} must be dbus-daemon or dbus-broker, not ${JSON.stringify(value)}`);
}

/**
 * A running private bus; stop() stops it by PID. `pid` is the process that owns
 * org.freedesktop.DBus as the bus reports it (dbus-daemon, or dbus-broker-launch): killing it ends the bus.
 */
export interface PrivateBus {
  readonly address: string;
  readonly pid: number;
  readonly dir: string;
  readonly process: ChildProcess;
  readonly program: SystemBus;
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
  /** The program of the bus; testBusProgram() when not given. */
  readonly program?: SystemBus;
}

/** An open session-bus policy: anyone may own and call anything. */
const SESSION_POLICY = `
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>`;

/** How many private buses this process started on testBusProgram()'s choice, by program (the dbus-broker reruns check it). */
const busesStarted: Record<SystemBus, number> = { 'dbus-daemon': 0, 'dbus-broker': 0 };

/** How many private buses this process has started so far with no program given, by program. */
export const privateBusesStarted = (): Readonly<Record<SystemBus, number>> => ({ ...busesStarted });

/** Starts a private bus (dbus-daemon, or dbus-broker when asked or TEST_BUS_ENV says so) on a unix:path socket in a fresh temp dir. */
export async function startPrivateBus(opts: PrivateBusOptions = {}): Promise<PrivateBus> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pbus-'));
  // Non-root clients (the policy tests run busctl as nobody) must reach the socket, as on /run/dbus.
  if ((opts.kind ?? 'system') === 'system') chmodSync(dir, 0o755);
  const kind = opts.kind ?? 'system';
  const program = opts.program ?? testBusProgram();
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
  const bus = program === 'dbus-broker' ? await startBroker({ dir, socket, configFile }) : await startDbusDaemon({ dir, socket, configFile });
  if (opts.program === undefined) busesStarted[program] += 1;
  return bus;
}

/** Where a private bus lives: its directory, its config file and the path of its socket. */
export interface BusFiles {
  readonly dir: string;
  readonly configFile: string;
  readonly socket: string;
}

/** dbus-daemon with the config, printing its address once it listens. */
async function startDbusDaemon(files: BusFiles): Promise<PrivateBus> {
  const child = spawn('dbus-daemon', ['--config-file', files.configFile, '--nofork', '--nopidfile', '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('dbus-daemon did not start');
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const address = await firstStdoutLine(child, { what: 'address', deadlineMs: STARTUP_DEADLINE_MS, stderr: () => stderr });
  return { address, pid, dir: files.dir, process: child, program: 'dbus-daemon', stop: () => stopProcess(child) };
}
