// Cold start of the production bundle (`node dist/provisioningd.js`) until its bus name is owned and
// it answers a read of `provisioned` (it owns the name before it serves, and holds calls meanwhile),
// against a bare script that only connects with dbus-next, exports that one property and owns the
// same name, timed the same way: each without V8's
// compile cache (a first start), and with it warm, as the units run them (NODE_COMPILE_CACHE in the
// unit's CacheDirectory, written by the start before: every start but the first in the field).
// Then memory: the resident set of provisioningd once it has provisioned itself (ProvisionPeer("self"),
// software token: no worker thread), and of attestationd (from its bundle, software identity: it runs
// no worker either) beside it, each against the bare owner's, all on the same Node with the compile
// cache as deployed. Each is read twice: 3 s after the work (the heap still holds what start-up and
// the issuance left), and settled, once idle for SETTLED_MS (V8's memory reducer, which shrinks an
// idle heap, has run by then: what a BMC sees for the daemon's life between events).
// "As the unit runs it" includes the glibc malloc settings of provisioningd's unit (its
// Environment=MALLOC_* lines); the bare owner gets the same ones, so that only the code differs.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAttestationd, startAttestationd } from '../test/harness/attestationd.ts';
import { busctl, IFACE, OBJECT, REPO, SERVICE } from '../test/harness/daemon.ts';
import { startPrivateBus, type PrivateBus } from '../test/harness/private-bus.ts';
import { stopProcess } from '../test/harness/stop-process.ts';
import { rssMiB } from './proc-usage.ts';
import { buildBundle, coldStart, formatFigure, NameOwnerWatcher, printStats, releaseBench, settle, startUntilOwned, stats, type Stats, writeDaemonConfig } from './harness.ts';

const N = 20;
/** Idle time before the resident set is read first: timers and the bus settle. */
const IDLE_MS = 3000;
/** Idle time before it is read again: V8's memory reducer starts about 8 s after the last GC of a heap that stopped growing. */
const SETTLED_MS = 30_000;
const START_TIMEOUT_MS = 20_000;

/**
 * The least a D-Bus service can do: connect, export one read-only property (provisioningd's
 * `provisioned`, at its path), own its name, wait for SIGTERM. With BARE_WORKER=1 it also starts one
 * idle worker thread: the floor for a daemon that keeps its token in a worker (both daemons run the
 * PKCS#11 worker, src/pki/token/), so that what the worker costs by itself is printed apart from what
 * our code costs.
 */
const BARE_SCRIPT = `
import dbus from 'dbus-next';
import { Worker } from 'node:worker_threads';
if (process.env.BARE_WORKER === '1') new Worker('setInterval(() => {}, 1 << 30)', { eval: true });
const bus = dbus.systemBus();
bus.on('error', (err) => { console.error(err); process.exit(1); });
class Bare extends dbus.interface.Interface {
  get provisioned() { return false; }
}
Bare.configureMembers({ properties: { provisioned: { signature: 'b', access: dbus.interface.ACCESS_READ } } });
bus.export(${JSON.stringify(OBJECT)}, new Bare(${JSON.stringify(IFACE)}));
const reply = await bus.requestName(${JSON.stringify(SERVICE)}, dbus.NameFlag.DO_NOT_QUEUE);
if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) process.exit(1);
process.once('SIGTERM', () => { bus.disconnect(); process.exit(0); });
`;

const work = mkdtempSync(join(tmpdir(), 'bench-startup-'));
const children: ChildProcess[] = [];
let bus: PrivateBus | undefined;
let watcher: NameOwnerWatcher | undefined;
let run = 0;
const freshConfig = () => writeDaemonConfig(join(work, `d${++run}`));

/** NODE_COMPILE_CACHE for one program, as its unit sets it (one directory per unit). */
const cacheEnv = (program: string) => {
  const dir = join(work, 'cache', program);
  mkdirSync(dir, { recursive: true });
  return { NODE_COMPILE_CACHE: dir };
};

/** The glibc malloc settings a unit file sets (its `Environment=MALLOC_…=…` lines). */
const unitMallocEnv = (unitFile: string): Record<string, string> =>
  Object.fromEntries([...readFileSync(join(REPO, 'service', unitFile), 'utf8').matchAll(/^Environment=(MALLOC_[A-Z_]+)=(\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));

/** The resident sets of `pids` (MiB, in order) IDLE_MS after now, and again once settled (SETTLED_MS). */
async function idleRss(pids: readonly (number | undefined)[]): Promise<{ after3s: number[]; settled: number[] }> {
  await sleep(IDLE_MS);
  const after3s = pids.map(rssMiB);
  await sleep(SETTLED_MS - IDLE_MS);
  return { after3s, settled: pids.map(rssMiB) };
}

try {
  await buildBundle();
  const bare = join(work, 'bare-owner.mjs');
  // The bare script resolves dbus-next from the repository, as the bundle resolves its externals.
  writeFileSync(bare, BARE_SCRIPT.replace("from 'dbus-next'", `from ${JSON.stringify(join(REPO, 'node_modules/dbus-next/index.js'))}`));

  bus = await startPrivateBus();
  watcher = await NameOwnerWatcher.connect(bus.address, SERVICE);
  const b = bus;
  // Every start is timed until it answers a read of `provisioned`, not only until its name appears:
  // provisioningd owns the name first (the name is its lock) and holds calls until it serves.
  const serves = { path: OBJECT, iface: IFACE, property: 'provisioned' };
  const spec = { busAddress: b.address, watcher, name: SERVICE, cwd: REPO, timeoutMs: START_TIMEOUT_MS, track: (c: ChildProcess) => children.push(c), serves };
  const bundle = join(REPO, 'dist/provisioningd.js');
  const malloc = unitMallocEnv('xyz.openbmc_project.Provisioning.service');
  console.log(`malloc settings of provisioningd's unit, also given to the bare owner: ${Object.entries(malloc).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`);
  const cached = {
    daemon: { ...cacheEnv('provisioningd'), ...malloc },
    bare: { ...cacheEnv('bare'), ...malloc },
    attestationd: { ...cacheEnv('attestationd'), ...unitMallocEnv('xyz.openbmc_project.attestation.service') },
  };

  /** The four ways of starting, each measured from spawn until the name is owned and `provisioned` answered. */
  const variants = [
    { name: 'bare dbus-next script', start: async () => ({ argv: [bare] }) },
    { name: 'bare dbus-next script, compile cache warm', start: async () => ({ argv: [bare], env: cached.bare }) },
    { name: 'node dist/provisioningd.js', start: async () => ({ argv: [bundle, '--conf', await freshConfig()] }) },
    { name: 'node dist/provisioningd.js, compile cache warm (as the unit runs it)', start: async () => ({ argv: [bundle, '--conf', await freshConfig()], env: cached.daemon }) },
  ];
  const startMs = async (v: (typeof variants)[number]) => coldStart({ ...spec, ...(await v.start()) });

  // One unmeasured run of each: the page cache is warm for all, and the compile caches are written
  // (the daemon writes its own once up; the bare script at its exit).
  for (const v of variants) await startMs(v);
  await settle();

  const samples = variants.map(() => [] as number[]);
  for (let i = 0; i < N; i++) {
    for (const [k, v] of variants.entries()) samples[k]?.push(await startMs(v));
  }
  const measured = variants.map((v, k) => ({ name: v.name, stats: stats(samples[k] ?? []) }));
  const [bareCold, bareWarm, daemonCold, daemonWarm] = measured as [
    { name: string; stats: Stats },
    { name: string; stats: Stats },
    { name: string; stats: Stats },
    { name: string; stats: Stats },
  ];
  const label = (m: { name: string }) => `${m.name}: start to name owned and provisioned answered`;
  printStats({ name: label(bareCold), stats: bareCold.stats });
  printStats({ name: label(bareWarm), stats: bareWarm.stats, baseline: { name: 'bare owner', stats: bareCold.stats } });
  printStats({ name: label(daemonCold), stats: daemonCold.stats, baseline: { name: 'bare owner', stats: bareCold.stats } });
  printStats({ name: label(daemonWarm), stats: daemonWarm.stats, baseline: { name: 'bare owner', stats: bareCold.stats } });
  printStats({ name: label(daemonWarm), stats: daemonWarm.stats, baseline: { name: 'bare owner with its compile cache warm', stats: bareWarm.stats } });

  // Memory, with the compile caches as deployed: attestationd (its own name, software identity)
  // and provisioningd side by side, provisioningd provisioned itself; then the bare owner alone,
  // and with one idle worker thread (the floor for a PKCS#11 token, which both daemons keep in a
  // worker: not run here).
  const attestationdSetup = await createAttestationd({ dir: join(work, 'attestationd'), name: 'bmc-bench', entry: 'dist', env: cached.attestationd });
  const attestationd = await startAttestationd({ bus: b, setup: attestationdSetup, entry: 'dist', env: cached.attestationd });
  children.push(attestationd.process);
  const daemon = await startUntilOwned({ ...spec, argv: [bundle, '--conf', await freshConfig()], env: cached.daemon });
  const self = await busctl(b, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
  if (self.code !== 0) throw new Error(`ProvisionPeer self: ${self.stderr}`);
  const daemonRss = await idleRss([daemon.child.pid, attestationd.pid]);
  await stopProcess(daemon.child);
  await attestationd.stop();
  const owner = await startUntilOwned({ ...spec, argv: [bare], env: cached.bare });
  const bareRss = await idleRss([owner.child.pid]);
  await stopProcess(owner.child);
  const ownerWithWorker = await startUntilOwned({ ...spec, argv: [bare], env: { ...cached.bare, BARE_WORKER: '1' } });
  const bareWorkerRss = await idleRss([ownerWithWorker.child.pid]);
  await stopProcess(ownerWithWorker.child);
  for (const when of ['after3s', 'settled'] as const) {
    const at = when === 'after3s' ? `${IDLE_MS / 1000} s after` : `settled (${SETTLED_MS / 1000} s idle)`;
    const [bareMiB = Number.NaN] = bareRss[when];
    const [bareWorkerMiB = Number.NaN] = bareWorkerRss[when];
    const [daemonMiB = Number.NaN, attestationdMiB = Number.NaN] = daemonRss[when];
    const againstBare = (value: number) => ({ value: value / bareMiB, against: 'bare owner' });
    console.log(formatFigure({ name: `bare dbus-next owner: RSS idle, ${at}`, value: bareMiB, unit: 'MiB' }));
    console.log(formatFigure({ name: `bare dbus-next owner with one idle worker thread: RSS idle, ${at}`, value: bareWorkerMiB, unit: 'MiB', ratio: againstBare(bareWorkerMiB) }));
    console.log(formatFigure({ name: `node dist/provisioningd.js: RSS idle after ProvisionPeer("self"), ${at}`, value: daemonMiB, unit: 'MiB', ratio: againstBare(daemonMiB) }));
    console.log(formatFigure({ name: `node dist/attestationd.js: RSS idle (software identity), ${at}`, value: attestationdMiB, unit: 'MiB', ratio: againstBare(attestationdMiB) }));
  }
} finally {
  await releaseBench({ children, watcher, bus, work });
}
