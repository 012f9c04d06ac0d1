import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLog } from '../harness/capture-log.ts';
import { throttleWarnings } from '../../src/log-throttle.ts';

/** A real winston logger whose records are kept in memory. */
function recordingLogger() {
  const captured = captureLog();
  return {
    log: captured.log,
    records: () => captured.records() as Array<{ message: string; event?: string }>,
  };
}

describe('throttled warnings (what a hostile client can put in the journal)', () => {
  it('logs the first burst per event in full, then one summary of what it left out', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { log, records } = recordingLogger();
    const noisy = throttleWarnings({ log, windowMs: 10_000, burst: 3 });
    for (let i = 0; i < 200; i++) noisy.warn(`handshake refused #${i}`, { event: 'HANDSHAKE_FAILED' });
    noisy.warn('silent', { event: 'INBOUND_CLOSED' });
    assert.deepEqual(records().map((r) => r.message), ['handshake refused #0', 'handshake refused #1', 'handshake refused #2', 'silent']);
    t.mock.timers.tick(10_000);
    assert.equal(records().length, 5);
    assert.equal(records()[4]?.message, '197 more HANDSHAKE_FAILED warnings in the last 10 s were not logged (rate limit)');
    assert.equal(records()[4]?.event, 'HANDSHAKE_FAILED');
    // A new window starts fresh.
    noisy.warn('handshake refused again', { event: 'HANDSHAKE_FAILED' });
    assert.equal(records().at(-1)?.message, 'handshake refused again');
    noisy.close();
  });

  it('close() reports what is pending at once', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { log, records } = recordingLogger();
    const noisy = throttleWarnings({ log, burst: 1 });
    noisy.warn('a', { event: 'E' });
    noisy.warn('b', { event: 'E' });
    noisy.close();
    assert.deepEqual(records().map((r) => r.message), ['a', '1 more E warnings in the last 10 s were not logged (rate limit)']);
  });
});
