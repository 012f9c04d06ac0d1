// What the inspector costs (issue 5):
// 1. cold start of the production bundle until its bus name is owned, inspect_port off vs on;
// 2. the first page request (the charts are laid out then) and later ones;
// 3. per-event cost of the inspector's observer in the daemon's process, against no observer.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActor, fromCallback, fromPromise, type InspectionEvent } from 'xstate';
import type { AttestationTarget } from '../machines/events.ts';
import { peerMachine } from '../machines/peer.machine.ts';
import { provisioningMachine } from '../machines/provisioning.machine.ts';
import { startInspector } from '../src/inspect/inspector.ts';
import { createLogger } from '../src/log.ts';
import { withTimeout } from '../src/util/with-timeout.ts';
import { freePort, REPO, SERVICE } from '../test/harness/daemon.ts';
import { startPrivateBus, stopProcess, type PrivateBus } from '../test/harness/private-bus.ts';
import { runTool } from '../test/harness/run-tool.ts';
import { compare, NameOwnerWatcher, printStats, settle, stats, timeOnce } from './harness.ts';

const N = 10;
const START_TIMEOUT_MS = 20_000;
const EVENTS_PER_RUN = 1000;

const work = mkdtempSync(join(tmpdir(), 'bench-inspect-'));
const children: ChildProcess[] = [];
let bus: PrivateBus | undefined;
let watcher: NameOwnerWatcher | undefined;

let run = 0;
/** A fresh, not provisioned daemon configuration, with or without the inspector. */
async function freshConfig(inspectPort: number): Promise<string> {
  const dir = join(work, `d${++run}`);
  const conf = `${dir}.conf`;
  writeFileSync(
    conf,
    JSON.stringify({ name: 'bmc-bench', cert_root: `${dir}/root/`, state_dir: `${dir}/state`, port: await freePort(), inspect_port: inspectPort }),
  );
  return conf;
}

/** Starts the bundle, returns the child once its bus name is owned, with the milliseconds it took. */
async function startBundle(b: PrivateBus, w: NameOwnerWatcher, conf: string): Promise<{ child: ChildProcess; ms: number }> {
  let child: ChildProcess | undefined;
  let output = '';
  const owned = w.nextOwner(SERVICE, START_TIMEOUT_MS);
  const ms = await timeOnce(async () => {
    child = spawn(process.execPath, [join(REPO, 'dist/provisioningd.js'), '--conf', conf], {
      cwd: REPO,
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: b.address },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const died = new Promise<never>((_, reject) =>
      child?.once('exit', (code) => reject(new Error(`the daemon exited ${String(code)} before owning the name:\n${output}`))),
    );
    await Promise.race([owned, died]);
  });
  if (!child) throw new Error('not started');
  return { child, ms };
}

async function coldStart(b: PrivateBus, w: NameOwnerWatcher, inspectPort: number): Promise<number> {
  const { child, ms } = await startBundle(b, w, await freshConfig(inspectPort));
  await stopProcess(child);
  return ms;
}

const get = async (url: string) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
};

/** The root machine in this process, with instant test actors, observed by `inspect` (or nothing). */
function observedDaemon(inspect?: (ev: InspectionEvent) => void) {
  const machine = provisioningMachine.provide({
    actors: {
      issueCertificates: fromPromise(async () => ({ caFingerprint: 'ab', leafNotBefore: 0, leafNotAfter: 86_400_000, generation: 1 })),
      tlsResponder: fromCallback(() => () => undefined),
      peer: peerMachine.provide({
        actors: { attestPeer: fromPromise<unknown, AttestationTarget>(async () => true), tlsClient: fromCallback(() => () => undefined) },
      }),
    },
  });
  const input = {
    provisioned: false,
    staticPeers: [],
    retry: { baseMs: 1000, capMs: 30_000, fastRetries: 3 },
    attestationTimeoutMs: 60_000,
    issueRetryMs: 30_000,
  };
  return createActor(machine, { input, ...(inspect ? { inspect } : {}) }).start();
}

try {
  const build = await runTool(process.execPath, [join(REPO, 'scripts/build.mjs')], { cwd: REPO, timeoutMs: 120_000 });
  if (build.code !== 0) throw new Error(`pnpm build failed:\n${build.stdout}${build.stderr}`);
  bus = await startPrivateBus();
  watcher = await NameOwnerWatcher.connect(bus.address, SERVICE);
  const b = bus;
  const w = watcher;

  // 1. Start-up, alternating off/on after one unmeasured run of each.
  await coldStart(b, w, 0);
  await coldStart(b, w, await freePort());
  await settle();
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < N; i++) {
    off.push(await coldStart(b, w, 0));
    on.push(await coldStart(b, w, await freePort()));
  }
  const baseline = { name: 'inspector off', stats: stats(off) };
  printStats({ name: 'dist/provisioningd.js start to name owned, inspect_port 0 (off)', stats: baseline.stats });
  printStats({ name: 'dist/provisioningd.js start to name owned, inspect_port set (on)', stats: stats(on), baseline });
  await settle();

  // 2. Page requests against one running daemon with the inspector on.
  const port = await freePort();
  const { child } = await startBundle(b, w, await freshConfig(port));
  try {
    const url = `http://127.0.0.1:${port}/`;
    printStats({ name: 'first page request (lays out the charts with elkjs)', stats: stats([await timeOnce(() => get(url))]) });
    const later: number[] = [];
    for (let i = 0; i < N; i++) later.push(await timeOnce(() => get(url)));
    printStats({ name: 'later page requests (server-side render of the current snapshot)', stats: stats(later) });
  } finally {
    await stopProcess(child);
  }
  await settle();

  // 3. The observer's cost per event, in process, with no page connected.
  const inspector = await startInspector({ port: 0, log: createLogger({ level: 'error' }) });
  const plain = observedDaemon();
  const inspected = observedDaemon(inspector.observer);
  const burst = (actor: ReturnType<typeof observedDaemon>) => async () => {
    for (let i = 0; i < EVENTS_PER_RUN; i++) actor.send({ type: 'TRUST_UPDATED' });
  };
  await compare({
    name: `${EVENTS_PER_RUN} events with the inspector's observer`,
    op: burst(inspected),
    baselineName: `${EVENTS_PER_RUN} events without an observer`,
    baseline: burst(plain),
    n: 20,
    warmup: 3,
    timeoutMs: 30_000,
  });
  plain.stop();
  inspected.stop();
  await withTimeout(inspector.close(), 5000, 'closing the inspector');
} finally {
  for (const c of children) await stopProcess(c);
  watcher?.close();
  await bus?.stop();
  if (bus) rmSync(bus.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
