// `pnpm bench`: runs every bench/*.bench.ts in its own process, one after the other, prints their
// output, and exits non-zero if any of them failed.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeNamespacesOf, secondsFromEnv, stopProcessTree } from '../scripts/test-watchdog.mjs';

const dir = import.meta.dirname;
/** A benchmark that takes longer than this (BENCH_TIMEOUT_S, default 600 s) is stopped and counted as failed. */
const PER_BENCH_TIMEOUT_MS = secondsFromEnv('BENCH_TIMEOUT_S', 600) * 1000;

const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

/** The PID of the bench running now, if any. */
let running: number | undefined;
/** Set by SIGINT / SIGTERM: no further bench starts, and the handler exits once the running one is stopped. */
let interrupted = false;
/** The stopping of the running bench (past its time, or interrupted), awaited before its result counts. */
let stopping: Promise<void> | undefined;

/**
 * Stops a bench and every process under it, each by PID (SIGTERM, then SIGKILL), and deletes the
 * network namespaces its racks made: a bench stopped half-way never reaches its own teardown.
 */
async function stopBench(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  const stopped = await stopProcessTree(pid);
  const removed = removeNamespacesOf(stopped);
  console.error(`bench: stopped pid ${pid} and ${stopped.length - 1} process(es) under it${removed.length ? `; removed network namespaces ${removed.join(' ')}` : ''}`);
}

// Interrupted: the bench in its own process group gets no terminal signal, so it is stopped here.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted = true;
    stopping ??= stopBench(running);
    void stopping.finally(() => process.exit(1));
  });
}

function runOne(file: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    // Its own process group, so that a bench past its time can be stopped with everything it started.
    const child = spawn(process.execPath, ['--import', 'tsx', join(dir, file)], { stdio: 'inherit', cwd: join(dir, '..'), detached: true });
    const timer = setTimeout(() => {
      console.error(`bench: ${file} took longer than ${PER_BENCH_TIMEOUT_MS / 1000} s (BENCH_TIMEOUT_S), stopping it`);
      stopping ??= stopBench(child.pid);
    }, PER_BENCH_TIMEOUT_MS);
    running = child.pid;
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      running = undefined;
      // A bench being stopped exits at the first SIGTERM; what it started is stopped before the next one runs.
      void (stopping ?? Promise.resolve()).then(() => {
        stopping = undefined;
        resolve({ code, signal, ms: Date.now() - started });
      });
    });
  });
}

const failed: string[] = [];
for (const file of files) {
  if (interrupted) await new Promise(() => {});
  console.log(`\n=== ${file}`);
  const r = await runOne(file);
  const ok = r.code === 0;
  console.log(`=== ${file}: ${ok ? 'ok' : `FAILED (${r.signal ?? `exit ${String(r.code)}`})`} in ${(r.ms / 1000).toFixed(1)} s`);
  if (!ok) failed.push(file);
}
if (files.length === 0) {
  console.error(`bench: no bench/*.bench.ts${only.length ? ` matching ${only.join(', ')}` : ''}`);
  process.exit(1);
}
if (failed.length) {
  console.error(`\nbench: ${failed.length} of ${files.length} failed: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`\nbench: all ${files.length} passed`);
