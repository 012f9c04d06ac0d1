// Runs every test file under test/ with Node's test runner (TypeScript through tsx), under a watchdog.
// Usage: node scripts/run-tests.mjs [kind | file ...]   kinds: unit model integration e2e (default: all)
//
// Environment:
//   TEST_CONCURRENCY       test files run at once (default 3)
//   TEST_WATCHDOG_IDLE_S   fail the run when no test has started or finished for this long (default 1200 s)
//   TEST_WATCHDOG_TOTAL_S  fail the run when it takes longer than this in all (default 3600 s)
// When the watchdog fires it prints what is still running, stops the runner and every process
// under it (daemons, swtpm, browsers) by PID, deletes the network namespaces the rack harness made
// for them, prints the closing `# pass N` / `# fail N` lines
// (the pending tests counted as failed) and exits 1.
// Whenever a test failed, the run ends with one `# failed: FILE › TEST: first line of its error`
// line per failure, so that the last lines of a long log (all a CI summary may keep) say what failed.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { pathToFileURL } from 'node:url';
import { removeNamespacesOf, secondsFromEnv as seconds, stopProcessTree, TestProgress } from './test-watchdog.mjs';

const KINDS = ['unit', 'model', 'integration', 'e2e'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : KINDS;
const files = wanted.flatMap((kind) => {
  // A file given by path runs as it is (the watchdog's own test runs a fixture this way).
  if (kind.endsWith('.ts') && existsSync(kind)) return [kind];
  const dir = join('test', kind);
  if (!KINDS.includes(kind)) throw new Error(`unknown test kind ${kind}; one of ${KINDS.join(', ')}, or a test file`);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join(dir, f)) : [];
});
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

// Above the per-test timeout below, so that node's own timeout names a slow test first.
const idleS = seconds('TEST_WATCHDOG_IDLE_S', 1200);
const totalS = seconds('TEST_WATCHDOG_TOTAL_S', 3600);

const progressDir = mkdtempSync(join(tmpdir(), 'pd-test-progress-'));
const progressFile = join(progressDir, 'events.jsonl');
const args = [
  '--import', 'tsx',
  '--test',
  // Many files mostly wait (daemons starting, timers, containers booting): on 2 cores the whole
  // suite took 724 s with 2 at once, 618 s with 3 and 644 s with 4 (the cores then stay busy).
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 3}`,
  // A hung test fails instead of hanging CI; every test stops its own processes in after() hooks.
  // Node applies this to each file as a whole too (a file is one test of the runner): on a shared
  // 2-core machine under load 20, persistence-restart and pki-issuer needed more than 300 s.
  '--test-timeout=900000',
  // What node would pick by itself (spec on a terminal, else TAP, whose closing `# pass N` /
  // `# fail N` lines CI reads), and the watchdog's event lines into a file.
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${pathToFileURL(join(import.meta.dirname, 'test-progress-reporter.mjs')).href}`,
  `--test-reporter-destination=${progressFile}`,
  ...files,
];
// Without NODE_TEST_CONTEXT: started from inside a test (the watchdog's own), node would take
// itself for a test file's process and skip running the files.
const env = { ...process.env };
delete env.NODE_TEST_CONTEXT;
// Its own process group, so that the watchdog can stop it with everything it started.
const child = spawn(process.execPath, args, { stdio: 'inherit', detached: true, env });
const progress = new TestProgress();

let offset = 0;
let partial = '';
// A read may end inside a multi-byte character of a test's name.
const decoder = new StringDecoder('utf8');
/** Reads the event lines written since the last call. */
function readProgress() {
  if (!existsSync(progressFile)) return;
  const fd = openSync(progressFile, 'r');
  try {
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n === 0) break;
      offset += n;
      partial += decoder.write(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  const lines = partial.split('\n');
  partial = lines.pop() ?? '';
  for (const line of lines) {
    try {
      if (line) progress.apply(JSON.parse(line));
    } catch {
      // Not a line of the progress reporter: the watchdog goes on with what it knows.
    }
  }
}

/** One TAP comment line per failed test (none when all passed). */
function reportFailures() {
  const failures = progress.describeFailures();
  if (failures.length === 0) return;
  process.stdout.write(`# ${failures.length} failed:\n`);
  for (const line of failures) process.stdout.write(`# failed: ${line}\n`);
}

let firing = false;
async function fire(reason) {
  firing = true;
  clearInterval(watch);
  readProgress();
  const pending = progress.describePending();
  const say = (line) => process.stdout.write(`# ${line}\n`);
  say(`watchdog: ${reason}; stopping the run. Still running:`);
  for (const line of pending) say(`  ${line}`);
  const stopped = await stopProcessTree(child.pid);
  say(`watchdog: stopped the test runner (pid ${child.pid}) and every process under it`);
  // A rack test killed before its teardown leaves its network namespaces behind.
  const removed = removeNamespacesOf(stopped);
  if (removed.length > 0) say(`watchdog: removed the network namespaces they left behind: ${removed.join(' ')}`);
  reportFailures();
  say(`pass ${progress.passed}`);
  say(`fail ${progress.failed + Math.max(1, progress.pendingTests())}`);
  rmSync(progressDir, { recursive: true, force: true });
  process.exit(1);
}

const watch = setInterval(() => {
  readProgress();
  const idle = progress.idleMs();
  if (idle > idleS * 1000) void fire(`no test has started or finished for ${Math.round(idle / 1000)} s (bound: TEST_WATCHDOG_IDLE_S=${idleS})`);
  else if (progress.elapsedMs() > totalS * 1000) void fire(`the run has taken more than ${totalS} s (bound: TEST_WATCHDOG_TOTAL_S=${totalS})`);
}, 1000);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  });
}
child.on('exit', (code, signal) => {
  if (firing) return;
  clearInterval(watch);
  readProgress();
  reportFailures();
  rmSync(progressDir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
