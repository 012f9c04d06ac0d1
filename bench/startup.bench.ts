// Cold start of the production bundle (`node dist/provisioningd.js`) until its bus name is owned,
// against a bare script that only connects with dbus-next and owns the same name. Then memory:
// the daemon's resident set once it has provisioned itself (ProvisionPeer("self"), software
// token) and settled, against the bare owner's, both on the same Node.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { busctl, IFACE, OBJECT, REPO, SERVICE } from '../test/harness/daemon.ts';
import { startPrivateBus, type PrivateBus } from '../test/harness/private-bus.ts';
import { buildBundle, coldStart, formatFigure, NameOwnerWatcher, printStats, releaseBench, settle, startUntilOwned, stats, writeDaemonConfig } from './harness.ts';
import { stopProcess } from '../test/harness/private-bus.ts';

const N = 10;
/** Idle time before the resident set is read: timers, GC and the bus settle. */
const IDLE_MS = 3000;

/** VmRSS of a process in MiB. */
function rssMiB(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid ?? 0}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no VmRSS for ${String(pid)}`);
  return Number(m[1]) / 1024;
}
const START_TIMEOUT_MS = 20_000;

/** The least a D-Bus service can do: connect, own its name, wait for SIGTERM. */
const BARE_SCRIPT = `
import dbus from 'dbus-next';
const bus = dbus.systemBus();
bus.on('error', (err) => { console.error(err); process.exit(1); });
const reply = await bus.requestName(${JSON.stringify(SERVICE)}, dbus.NameFlag.DO_NOT_QUEUE);
if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) process.exit(1);
process.once('SIGTERM', () => { bus.disconnect(); process.exit(0); });
`;

const work = mkdtempSync(join(tmpdir(), 'bench-startup-'));
const children: ChildProcess[] = [];
let bus: PrivateBus | undefined;
let watcher: NameOwnerWatcher | undefined;

/** Starts `node argv`, returns the milliseconds until the bus name is owned, then stops it by PID. */
const startMs = (b: PrivateBus, w: NameOwnerWatcher, argv: string[]) =>
  coldStart({ busAddress: b.address, watcher: w, name: SERVICE, argv, cwd: REPO, timeoutMs: START_TIMEOUT_MS, track: (c) => children.push(c) });

let run = 0;
const freshConfig = () => writeDaemonConfig(join(work, `d${++run}`));

try {
  await buildBundle();
  const bare = join(work, 'bare-owner.mjs');
  // The bare script resolves dbus-next from the repository, as the bundle resolves its externals.
  writeFileSync(bare, BARE_SCRIPT.replace("from 'dbus-next'", `from ${JSON.stringify(join(REPO, 'node_modules/dbus-next/index.js'))}`));

  bus = await startPrivateBus();
  watcher = await NameOwnerWatcher.connect(bus.address, SERVICE);
  const b = bus;
  const w = watcher;
  const bundle = join(REPO, 'dist/provisioningd.js');

  // One unmeasured run of each, so that the first measured run does not pay for a cold page cache.
  await startMs(b, w, [bundle, '--conf', await freshConfig()]);
  await startMs(b, w, [bare]);
  await settle();

  const daemonMs: number[] = [];
  const bareMs: number[] = [];
  for (let i = 0; i < N; i++) {
    daemonMs.push(await startMs(b, w, [bundle, '--conf', await freshConfig()]));
    bareMs.push(await startMs(b, w, [bare]));
  }
  const baseline = { name: 'bare owner', stats: stats(bareMs) };
  printStats({ name: 'bare dbus-next script: start to name owned', stats: baseline.stats });
  printStats({ name: 'node dist/provisioningd.js: start to name owned', stats: stats(daemonMs), baseline });

  // Memory: idle after provisioning itself, against the bare owner idle.
  const spec = { busAddress: b.address, watcher: w, name: SERVICE, cwd: REPO, timeoutMs: START_TIMEOUT_MS, track: (c: ChildProcess) => children.push(c) };
  const daemon = await startUntilOwned({ ...spec, argv: [bundle, '--conf', await freshConfig()] });
  const self = await busctl(b, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
  if (self.code !== 0) throw new Error(`ProvisionPeer self: ${self.stderr}`);
  await sleep(IDLE_MS);
  const daemonRss = rssMiB(daemon.child.pid);
  await stopProcess(daemon.child);
  const owner = await startUntilOwned({ ...spec, argv: [bare] });
  await sleep(IDLE_MS);
  const bareRss = rssMiB(owner.child.pid);
  await stopProcess(owner.child);
  console.log(formatFigure({ name: 'bare dbus-next owner: RSS idle', value: bareRss, unit: 'MiB' }));
  console.log(
    formatFigure({
      name: 'node dist/provisioningd.js: RSS idle after ProvisionPeer("self")',
      value: daemonRss,
      unit: 'MiB',
      ratio: { value: daemonRss / bareRss, against: 'bare owner' },
    }),
  );
} finally {
  await releaseBench({ children, watcher, bus, work });
}
