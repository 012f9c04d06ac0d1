// The watchdog of scripts/run-tests.mjs: follows what node:test is running (the JSON lines of
// scripts/test-progress-reporter.mjs), says what is still pending when the run stalls or runs too
// long, and stops the runner with every process under it, by PID.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

/**
 * Whether an event is about a whole test file (the runner's test of it) rather than a test inside
 * it. Node 20 names that test by the file's absolute path, Node 22 by the path as given (relative).
 */
const isFileLevel = (e) => e.nesting === 0 && e.file !== undefined && resolve(e.name) === e.file;

/** The tests node:test is running right now, and how many finished, from the reporter's events. */
export class TestProgress {
  #running = new Map();
  #start;
  /** When a test (or file) last started or finished; undefined until the runner reports anything. */
  lastProgressAt;
  passed = 0;
  failed = 0;
  /** Every test that failed on its own account (not a suite that failed because a test in it did). */
  failures = [];

  constructor(now = Date.now()) {
    this.#start = now;
  }

  /** Applies one event line of test-progress-reporter.mjs. */
  apply(event) {
    const key = `${event.file ?? ''}\0${event.nesting}\0${event.name}`;
    if (event.type === 'test:dequeue') {
      const entry = this.#running.get(key);
      if (entry) entry.count += 1;
      else this.#running.set(key, { name: event.name, file: event.file, nesting: event.nesting, since: event.at, count: 1, whole: isFileLevel(event) });
      this.lastProgressAt = Math.max(this.lastProgressAt ?? 0, event.at);
    } else if (event.type === 'test:complete') {
      const entry = this.#running.get(key);
      if (entry && --entry.count === 0) this.#running.delete(key);
      this.lastProgressAt = Math.max(this.lastProgressAt ?? 0, event.at);
    } else {
      // A leaf's own failure, or a suite's or a whole file's (a hook, a crash, a timeout).
      if (event.type === 'test:fail' && event.error !== undefined) this.failures.push({ file: event.file, name: event.name, nesting: event.nesting, error: event.error });
      if (!event.suite && !isFileLevel(event)) {
        // Leaf tests only, as node's own summary counts them (not suites, not whole files).
        if (event.type === 'test:pass') this.passed += 1;
        if (event.type === 'test:fail') this.failed += 1;
      }
    }
  }

  /** What failed, one line each: file, test and the first line of its error; nothing when all passed. */
  describeFailures(cwd = process.cwd()) {
    return this.failures.map((f) => {
      const file = f.file === undefined ? '(no file)' : relative(cwd, f.file) || f.file;
      return isFileLevel(f) ? `${file}: ${f.error}` : `${file} › ${f.name}: ${f.error}`;
    });
  }

  /** Leaf tests still running (suites and whole files aside). */
  pendingTests() {
    return [...this.#running.values()].filter((e) => !e.whole && !this.#hasRunningChild(e)).length;
  }

  #hasRunningChild(e) {
    return [...this.#running.values()].some((o) => o.file === e.file && o.nesting > e.nesting && o.since >= e.since && !o.whole);
  }

  /** What is still running, one line each, grouped by file and indented by nesting, with how long it has run. */
  describePending(now = Date.now(), cwd = process.cwd()) {
    const entries = [...this.#running.values()];
    const files = [...new Set(entries.map((e) => e.file ?? '(no file)'))].sort();
    const lines = [];
    const age = (since) => `${Math.round((now - since) / 1000)} s`;
    for (const file of files) {
      const inFile = entries.filter((e) => (e.file ?? '(no file)') === file).sort((a, b) => a.since - b.since || a.nesting - b.nesting);
      const whole = inFile.find((e) => e.whole);
      lines.push(`${relative(cwd, file) || file} (running for ${age(whole?.since ?? inFile[0]?.since ?? now)})`);
      const tests = inFile.filter((e) => e !== whole);
      // Node passes on a file's own events as they happen only for the earliest file still running
      // (the others' wait for their turn in the report), so for those the file is all that is known.
      if (tests.length === 0) lines.push('  (which of its tests: not reported yet, or none: a hook at file level, or its process not exiting)');
      for (const t of tests) lines.push(`${'  '.repeat(t.nesting + 1)}${t.name} (for ${age(t.since)})`);
    }
    if (lines.length === 0) lines.push('(no test running: the runner itself is stuck)');
    return lines;
  }

  /**
   * How long the run has gone without a test starting or finishing, in ms; 0 until the runner
   * reported its first event (a runner stuck before that is caught by the bound on the whole run).
   */
  idleMs(now = Date.now()) {
    return this.lastProgressAt === undefined ? 0 : now - this.lastProgressAt;
  }

  /** How long the run has taken so far, in ms. */
  elapsedMs(now = Date.now()) {
    return now - this.#start;
  }
}

/** Every process's parent and process group, from /proc (Linux). */
function processTable() {
  const table = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.push({ pid: Number(name), ppid: Number(ppid), pgrp: Number(pgrp) });
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

/** `root` and every process below it, plus every member of process group `root`. */
export function processesUnder(root) {
  const table = processTable();
  const found = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) {
      if (!found.has(p.pid) && (found.has(p.ppid) || p.pgrp === root)) {
        found.add(p.pid);
        grew = true;
      }
    }
  }
  return [...found];
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};

/**
 * Stops `root` (the test runner, leader of its own process group) and everything under it, each
 * by PID: daemons, swtpm, browsers (which sit in process groups of their own). SIGTERM first so
 * that they can clean up; SIGKILL for whatever is left after `graceMs`. Returns every PID it
 * signalled, for removeNamespacesOf().
 */
export async function stopProcessTree(root, graceMs = 5000) {
  const seen = new Set(processesUnder(root));
  for (const pid of seen) signal(pid, 'SIGTERM');
  const end = Date.now() + graceMs;
  while (Date.now() < end && [...seen].some(alive)) {
    await new Promise((r) => setTimeout(r, 100));
    // Children started meanwhile, and those of processes that just died, are still in the group.
    for (const pid of processesUnder(root)) seen.add(pid);
  }
  for (const pid of seen) if (alive(pid)) signal(pid, 'SIGKILL');
  return [...seen];
}

/**
 * The network namespaces, among `names`, that the rack harness (test/harness/netns.ts) created for
 * one of `pids`: it names them `pd<pid in base 36>_<random>-<n>`, so a test process killed before
 * its teardown (SIGKILL runs no exit hook) can be cleaned up after by the one who killed it.
 */
export function namespacesOf(pids, names) {
  const prefixes = pids.map((pid) => `pd${pid.toString(36)}_`);
  return names.filter((name) => prefixes.some((prefix) => name.startsWith(prefix)));
}

/**
 * Deletes the network namespaces the stopped processes `pids` left behind (namespacesOf) and
 * returns their names. Without `ip`, or without the right to use it, there is nothing to remove.
 */
export function removeNamespacesOf(pids) {
  let listing;
  try {
    listing = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  } catch {
    return [];
  }
  // One line per namespace: "NAME" or "NAME (id: N)".
  const names = listing.split('\n').map((line) => line.split(' ')[0] ?? '').filter(Boolean);
  const removed = [];
  for (const ns of namespacesOf(pids, names)) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
      removed.push(ns);
    } catch {
      // gone meanwhile, or not ours to delete
    }
  }
  return removed;
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** A bound in seconds from the environment variable `name`, or `fallback` when unset; anything but a positive number ends the process (exit 2) saying so. */
export function secondsFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${name} must be a positive number of seconds, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}
