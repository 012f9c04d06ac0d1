// Loaded into a daemon with `node --import` (NODE_OPTIONS) by bench/mesh.bench.ts: records the
// stalls of the daemon's event loop, for the bench to print. Plain JavaScript, because the daemon
// runs from the bundle with node alone. Linux only (it reads procfs); nothing else of the daemon
// changes.
//
// A timer every TICK_MS; a tick that comes more than STALL_MS after the one before is a stall:
// nothing could run on the event loop meanwhile (work of the daemon, a GC pause, or waiting for a
// core). For each stall, the main thread's own CPU time and its time waiting on a run queue come
// from /proc/thread-self/schedstat (read on the main thread: its first two fields are ns on a core
// and ns runnable but waiting), so that work and preemption are told apart. GC pauses come from a
// PerformanceObserver. Each is one JSON line appended to the file named by EVENT_LOOP_STALLS_FILE:
//   {"stall":{"at":<epoch ms of its start>,"ms":<wall>,"cpuMs":<on a core>,"waitMs":<on a run queue>}}
//   {"gc":{"at":<epoch ms>,"ms":<pause>}}
import { createWriteStream, openSync, readSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const TICK_MS = 1;
const STALL_MS = 3;
const file = process.env.EVENT_LOOP_STALLS_FILE;

if (file) {
  const out = createWriteStream(file, { flags: 'a' });
  const fd = openSync('/proc/thread-self/schedstat', 'r');
  const buf = Buffer.alloc(128);
  /** The main thread's ns on a core and ns waiting for one, so far. */
  const schedstat = () => {
    const n = readSync(fd, buf, 0, buf.length, 0);
    const [run = 0, wait = 0] = buf.toString('latin1', 0, n).split(' ').map(Number);
    return { run, wait };
  };
  const epochMs = (perfMs) => performance.timeOrigin + perfMs;
  let last = performance.now();
  let lastStat = schedstat();
  const timer = setInterval(() => {
    const now = performance.now();
    const stat = schedstat();
    if (now - last - TICK_MS > STALL_MS) {
      const stall = { at: epochMs(last), ms: now - last, cpuMs: (stat.run - lastStat.run) / 1e6, waitMs: (stat.wait - lastStat.wait) / 1e6 };
      out.write(`${JSON.stringify({ stall })}\n`);
    }
    last = now;
    lastStat = stat;
  }, TICK_MS);
  timer.unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) out.write(`${JSON.stringify({ gc: { at: epochMs(e.startTime), ms: e.duration } })}\n`);
  }).observe({ entryTypes: ['gc'] });
}
