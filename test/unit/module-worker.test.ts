// A worker thread's code is a typed TypeScript module loaded by URL (src/util/module-worker.ts);
// from source it runs through tsx. Real worker threads; the bundle side is covered by
// test/integration/bundle.test.ts (the inspector's layout worker runs from dist/).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { moduleWorkerEntry, startModuleWorker } from '../../src/util/module-worker.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import type { EchoReply, EchoRequest } from '../fixtures/module-worker/echo-worker.ts';

describe('module workers', () => {
  it('run a TypeScript module on a thread of its own and exchange typed messages', async () => {
    const worker = startModuleWorker({ module: new URL('../fixtures/module-worker/echo-worker.ts', import.meta.url), workerData: { n: 7 } });
    try {
      const request: EchoRequest = { text: 'hello' };
      worker.postMessage(request);
      const [reply] = (await withTimeout(once(worker, 'message'), 20_000, 'the echo worker')) as [EchoReply];
      assert.deepEqual(reply, { text: 'HELLO', data: { n: 7 } });
    } finally {
      await worker.terminate();
    }
  });

  it('refuses, before any thread starts, a module that is missing or not TypeScript', () => {
    assert.throws(() => moduleWorkerEntry(new URL('./no-such-worker.ts', import.meta.url)), /worker module .*no-such-worker\.ts does not exist/);
    assert.throws(() => startModuleWorker({ module: new URL('./no-such-worker.ts', import.meta.url) }), /does not exist/);
    assert.throws(() => moduleWorkerEntry(new URL('./echo-worker.js', import.meta.url)), /named by its \.ts source/);
  });
});
