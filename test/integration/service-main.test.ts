import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { REPO } from '../harness/daemon.ts';
import { STARTUP_DEADLINE_MS } from '../harness/startup-deadline.ts';

/** Runs the slow-start fixture and sends `signal` once its start has begun (or after it is up). */
async function signalDuring(o: { signal: NodeJS.Signals; after: 'starting' | 'started' }) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test/fixtures/service-main/slow-start.ts')], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('close', (code, signal) => res({ code, signal })));
  const reached = new Promise<void>((res) => {
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.split('\n').includes(o.after)) res();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  });
  try {
    await withTimeout(reached, STARTUP_DEADLINE_MS, `the fixture printing ${o.after}`);
    child.kill(o.signal);
    return { ...(await withTimeout(exited, STARTUP_DEADLINE_MS, 'the fixture exiting')), out };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describe('service runner: stop signals', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} while the service is starting: it finishes starting, stops cleanly and exits 0`, async () => {
      const r = await signalDuring({ signal, after: 'starting' });
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.out);
      assert.match(r.out, new RegExp(`stopping: ${signal} \\(during start\\)`));
      assert.ok(r.out.indexOf('started') < r.out.indexOf('stopped'), `stopped after it was up:\n${r.out}`);
    });
  }

  it('SIGTERM once the service is up: stops cleanly and exits 0', async () => {
    const r = await signalDuring({ signal: 'SIGTERM', after: 'started' });
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.out);
    assert.match(r.out, /stopping: SIGTERM\n|stopping: SIGTERM$/m);
    assert.match(r.out, /^stopped$/m);
  });
});
