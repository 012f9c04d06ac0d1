// `pnpm bench`: runs every bench/*.bench.ts in its own process, one after the other, prints their
// output, and exits non-zero if any of them failed.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
/** A benchmark that takes longer than this is stopped and counted as failed. */
const PER_BENCH_TIMEOUT_MS = 10 * 60_000;

const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

function runOne(file: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(dir, file)], { stdio: 'inherit', cwd: join(dir, '..') });
    const timer = setTimeout(() => {
      console.error(`bench: ${file} took longer than ${PER_BENCH_TIMEOUT_MS / 60_000} min, stopping it`);
      child.kill('SIGTERM');
    }, PER_BENCH_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - started });
    });
  });
}

const failed: string[] = [];
for (const file of files) {
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
