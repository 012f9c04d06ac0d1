// scripts/run-tests.mjs's watchdog: a run that stalls (or takes too long in all) is stopped, with
// the names of what was still running, every process under the runner gone, and a failing exit
// status. Run on a fixture file that never ends (test/fixtures/watchdog/, not part of the normal run).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { runTool } from '../harness/run-tool.ts';

const REPO = resolve(import.meta.dirname, '../..');
const FIXTURE = 'test/fixtures/watchdog/hangs-forever.test.ts';
const RACK_FIXTURE = 'test/fixtures/watchdog/hangs-in-a-rack.test.ts';
const FAILING_FIXTURE = 'test/fixtures/watchdog/fails-two.test.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the test runner watchdog (scripts/run-tests.mjs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pd-watchdog-'));
  after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 60_000 });

  /** Runs the fixture through the script with the given bounds; the run's own net is far above them. */
  async function runFixture(name: string, bounds: Record<string, string>, fixture = FIXTURE) {
    const pids = join(dir, `${name}.pids`);
    const namespaces = join(dir, `${name}.namespaces`);
    // Not a terminal: the runner reports TAP, as in CI.
    const run = await runTool(process.execPath, ['scripts/run-tests.mjs', fixture], {
      cwd: REPO,
      env: { ...bounds, WATCHDOG_FIXTURE_PIDS: pids, WATCHDOG_FIXTURE_NAMESPACES: namespaces },
      timeoutMs: 300_000,
    });
    const listed = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split(' ').filter(Boolean) : []);
    return { ...run, started: listed(pids).map(Number), namespaces: listed(namespaces) };
  }

  it('stops a run in which nothing has started or finished for TEST_WATCHDOG_IDLE_S, naming the test still running', async () => {
    const run = await runFixture('idle', { TEST_WATCHDOG_IDLE_S: '3', TEST_WATCHDOG_TOTAL_S: '3600' });
    const out = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.code, 1, out);
    assert.match(run.stdout, /^# watchdog: no test has started or finished for \d+ s \(bound: TEST_WATCHDOG_IDLE_S=3\)/m, out);
    // What was pending: the file, its suite and the test that never ends, in that order.
    const pending = run.stdout.slice(run.stdout.indexOf('Still running:'));
    assert.match(pending, /test\/fixtures\/watchdog\/hangs-forever\.test\.ts \(running for \d+ s\)\n# +a suite that never ends \(for \d+ s\)\n# +waits forever on processes that never exit \(for \d+ s\)/, out);
    assert.doesNotMatch(pending.split('watchdog: stopped')[0] ?? '', /passes first/, 'a finished test is not listed as running');
    // Node's closing count lines, the test that never ended counted as failed.
    assert.match(run.stdout, /^# pass 1$/m, out);
    assert.match(run.stdout, /^# fail 1$/m, out);
    assert.equal(run.started.length, 2, `the fixture started its two processes: ${out}`);
    for (const pid of run.started) assert.equal(alive(pid), false, `process ${pid} started by the stalled test was stopped`);
  });

  it('stops a run that takes longer than TEST_WATCHDOG_TOTAL_S in all, with every process under it', async () => {
    const run = await runFixture('total', { TEST_WATCHDOG_IDLE_S: '3600', TEST_WATCHDOG_TOTAL_S: '20' });
    const out = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.code, 1, out);
    assert.match(run.stdout, /^# watchdog: the run has taken more than 20 s \(bound: TEST_WATCHDOG_TOTAL_S=20\); stopping the run\. Still running:/m, out);
    assert.match(run.stdout, /^# fail [1-9]\d*$/m, out);
    for (const pid of run.started) assert.equal(alive(pid), false, `process ${pid} started by the test was stopped`);
  });

  it('ends a run in which tests failed with one line per failure: file, test and the first line of its error', async () => {
    const run = await runFixture('failing', { TEST_WATCHDOG_IDLE_S: '3600', TEST_WATCHDOG_TOTAL_S: '3600' }, FAILING_FIXTURE);
    const out = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.code, 1, out);
    // The last lines of the log, which are all a CI summary may keep.
    const tail = run.stdout.trimEnd().split('\n').slice(-3);
    assert.deepEqual(
      tail,
      [
        '# 2 failed:',
        `# failed: ${FAILING_FIXTURE} › fails an assertion: AssertionError: the count is right`,
        `# failed: ${FAILING_FIXTURE} › throws: RangeError: out of range`,
      ],
      out,
    );
  });

  it('removes the network namespaces a rack test it had to kill left behind (as root)', async () => {
    const run = await runFixture('rack', { TEST_WATCHDOG_IDLE_S: '5', TEST_WATCHDOG_TOTAL_S: '3600' }, RACK_FIXTURE);
    const out = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.code, 1, out);
    assert.equal(run.namespaces.length, 2, `the fixture built its two-BMC rack: ${out}`);
    assert.match(run.stdout, /^# watchdog: removed the network namespaces they left behind: /m, out);
    const left = (await runTool('ip', ['netns', 'list'], { timeoutMs: 10_000 })).stdout;
    for (const ns of run.namespaces) assert.doesNotMatch(left, new RegExp(`^${ns}\\b`, 'm'), `namespace ${ns} is gone`);
  });
});
