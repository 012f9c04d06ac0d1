// What the inspector costs (issue 5):
// 1. cold start of the production bundle until its bus name is owned and it serves, inspect_port off vs on;
// 2. the first page request (the charts are laid out then) and later ones;
// 3. how long the main thread's event loop stalls during the first page request (the longest
//    delay perf_hooks.monitorEventLoopDelay sees), each run in a fresh process: now, with elkjs on
//    its own thread, against before, elkjs laying out the same graphs on the main thread;
// 4. per-event cost of the inspector's observer in the daemon's process, against no observer.
import { daemonInput } from '../test/harness/daemon-input.ts';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createActor, fromCallback, fromPromise, type InspectionEvent } from 'xstate';
import type { AttestationTarget } from '../machines/events.ts';
import { peerMachine } from '../machines/peer.machine.ts';
import { provisioningMachine } from '../machines/provisioning.machine.ts';
import { startInspector } from '../src/inspect/inspector.ts';
import { daemonCharts } from '../src/inspect/statechart-docs.ts';
import { elkGraphOf } from '../src/inspect/statechart-layout.ts';
import { createLogger } from '../src/log.ts';
import { withTimeout } from '../src/util/with-timeout.ts';
import { freePort, IFACE, OBJECT, REPO, SERVICE } from '../test/harness/daemon.ts';
import { startPrivateBus, type PrivateBus } from '../test/harness/private-bus.ts';
import { stopProcess } from '../test/harness/stop-process.ts';
import { runTool } from '../test/harness/run-tool.ts';
import {
  buildBundle,
  coldStart,
  compare,
  formatFigure,
  NameOwnerWatcher,
  type OwnerStartSpec,
  printStats,
  releaseBench,
  settle,
  startUntilOwned,
  stats,
  timeOnce,
  writeDaemonConfig,
} from './harness.ts';

const N = 10;
const START_TIMEOUT_MS = 20_000;
const EVENTS_PER_RUN = 1000;
/** Fresh processes per side for the event-loop figure (each pays elkjs's first load, as a daemon does). */
const STALL_RUNS = 5;
/** Set in the child processes of part 3: which side of the comparison to run. */
const STALL_CHILD = process.env['INSPECT_BENCH_STALL'];

/** The scratch directory: made by the main process only (a part-3 child exits without the final cleanup). */
const work = STALL_CHILD ? '' : mkdtempSync(join(tmpdir(), 'bench-inspect-'));
const children: ChildProcess[] = [];
let bus: PrivateBus | undefined;
let watcher: NameOwnerWatcher | undefined;

let run = 0;
/** A fresh, not provisioned daemon configuration, with or without the inspector. */
const freshConfig = (inspectPort: number) => writeDaemonConfig(join(work, `d${++run}`), { inspect_port: inspectPort });

/** What starts the bundle with `conf` until its bus name is owned and it serves (answers a read of `provisioned`; the child tracked for the final cleanup). */
const bundleStart = (b: PrivateBus, w: NameOwnerWatcher, conf: string): OwnerStartSpec => ({
  busAddress: b.address,
  watcher: w,
  name: SERVICE,
  argv: [join(REPO, 'dist/provisioningd.js'), '--conf', conf],
  cwd: REPO,
  timeoutMs: START_TIMEOUT_MS,
  track: (c) => children.push(c),
  serves: { path: OBJECT, iface: IFACE, property: 'provisioned' },
});

const startMs = async (b: PrivateBus, w: NameOwnerWatcher, inspectPort: number) => coldStart(bundleStart(b, w, await freshConfig(inspectPort)));

const get = async (url: string) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
};

/** The root machine in this process, with instant test actors, observed by `inspect` (or nothing). */
function observedDaemon(inspect?: (ev: InspectionEvent) => void) {
  const machine = provisioningMachine.provide({
    actors: {
      issueCertificates: fromPromise(async () => ({ caFingerprint: 'ab', leafNotBefore: 0, leafNotAfter: 86_400_000, leafLifetimeMs: 86_400_000, generation: 1 })),
      tlsResponder: fromCallback(() => () => undefined),
      peer: peerMachine.provide({
        actors: { attestPeer: fromPromise<unknown, AttestationTarget>(async () => true), tlsClient: fromCallback(() => () => undefined) },
      }),
    },
  });
  const input = daemonInput({ provisioned: false });
  return createActor(machine, { input, ...(inspect ? { inspect } : {}) }).start();
}

/** What a part-3 child reports: the longest event-loop delay and how long the measured work took. */
interface StallSample {
  readonly maxDelayMs: number;
  readonly ms: number;
}

/**
 * Part 3, in a child process: `thread` serves the first page of an inspector (elkjs on its thread,
 * the code as it is); `main-thread` lays the same two graphs out with elkjs on the main thread, which
 * is what the first page request did before the layout thread, and the part of it that stalled.
 */
async function stallChild(side: string): Promise<StallSample> {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  if (side === 'thread') {
    const inspector = await startInspector({ port: 0, log: createLogger({ level: 'error' }) });
    const daemon = observedDaemon(inspector.observer);
    try {
      delay.enable();
      const ms = await timeOnce(() => get(inspector.url));
      delay.disable();
      return { maxDelayMs: delay.max / 1e6, ms };
    } finally {
      daemon.stop();
      await withTimeout(inspector.close(), 5000, 'closing the inspector');
    }
  }
  const { root, peer } = daemonCharts();
  delay.enable();
  // As layoutStatechart did before: one ELK per machine, both started at once.
  const ms = await timeOnce(() =>
    Promise.all(
      [root.graph, peer.graph].map(async (graph) => {
        const mod = await import('elkjs/lib/elk.bundled.js');
        return new mod.default.default().layout(elkGraphOf(graph));
      }),
    ),
  );
  delay.disable();
  return { maxDelayMs: delay.max / 1e6, ms };
}

/** Runs one part-3 child (this file again, with INSPECT_BENCH_STALL set) and reads its sample. */
async function stallSample(side: 'thread' | 'main-thread'): Promise<StallSample> {
  const r = await runTool(process.execPath, ['--import', 'tsx', import.meta.filename], {
    cwd: REPO,
    env: { INSPECT_BENCH_STALL: side },
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new Error(`the ${side} run failed:\n${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as StallSample;
}

if (STALL_CHILD) {
  process.stdout.write(`${JSON.stringify(await stallChild(STALL_CHILD))}\n`);
  process.exit(0);
}

try {
  await buildBundle();
  bus = await startPrivateBus();
  watcher = await NameOwnerWatcher.connect(bus.address, SERVICE);
  const b = bus;
  const w = watcher;

  // 1. Start-up, alternating off/on after one unmeasured run of each.
  await startMs(b, w, 0);
  await startMs(b, w, await freePort());
  await settle();
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < N; i++) {
    off.push(await startMs(b, w, 0));
    on.push(await startMs(b, w, await freePort()));
  }
  const baseline = { name: 'inspector off', stats: stats(off) };
  printStats({ name: 'dist/provisioningd.js start to name owned and serving, inspect_port 0 (off)', stats: baseline.stats });
  printStats({ name: 'dist/provisioningd.js start to name owned and serving, inspect_port set (on)', stats: stats(on), baseline });
  await settle();

  // 2. Page requests against one running daemon with the inspector on.
  const port = await freePort();
  const { child } = await startUntilOwned(bundleStart(b, w, await freshConfig(port)));
  try {
    const url = `http://127.0.0.1:${port}/`;
    printStats({ name: 'first page request (elkjs lays out the charts on its thread)', stats: stats([await timeOnce(() => get(url))]) });
    const later: number[] = [];
    for (let i = 0; i < N; i++) later.push(await timeOnce(() => get(url)));
    printStats({ name: 'later page requests (server-side render of the current snapshot)', stats: stats(later) });
  } finally {
    await stopProcess(child);
  }
  await settle();

  // 3. The main thread's longest stall during the first page request, alternating sides.
  const before: StallSample[] = [];
  const now: StallSample[] = [];
  for (let i = 0; i < STALL_RUNS; i++) {
    before.push(await stallSample('main-thread'));
    now.push(await stallSample('thread'));
  }
  const stallBefore = { name: 'before: elkjs on the main thread', stats: stats(before.map((s) => s.maxDelayMs)) };
  const stallNow = stats(now.map((s) => s.maxDelayMs));
  printStats({ name: 'first page: main-thread event-loop max delay, before (elkjs laying out on the main thread)', stats: stallBefore.stats });
  printStats({ name: 'first page: main-thread event-loop max delay, now (elkjs on its thread)', stats: stallNow, baseline: stallBefore });
  console.log(formatFigure({ name: 'first page: main-thread event-loop max delay, before / now (medians)', value: stallBefore.stats.median / stallNow.median, unit: 'x' }));
  printStats({ name: 'first page: elkjs on the main thread, load and layout (before)', stats: stats(before.map((s) => s.ms)) });
  printStats({ name: 'first page: whole request with elkjs on its thread (now)', stats: stats(now.map((s) => s.ms)) });
  await settle();

  // 4. The observer's cost per event, in process, with no page connected.
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
  await releaseBench({ children, watcher, bus, work });
}
