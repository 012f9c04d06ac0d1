import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryTimer } from '../../src/util/retry-timer.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';

describe('RetryTimer: a retry after each failure, waiting twice as long each time', () => {
  it('doubles the wait from the first up to the cap, one retry at a time, and starts over after a success', () => {
    const timer = new RetryTimer({ firstMs: 1000, maxMs: 5000 });
    const waits: Array<number | undefined> = [];
    for (let i = 0; i < 5; i++) {
      waits.push(timer.failed(() => undefined));
      assert.equal(timer.pending, true);
      assert.equal(timer.failed(() => undefined), undefined, 'a second failure while one retry waits schedules nothing');
      timer.stop(); // as if the retry had run and failed again
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 5000, 5000]);
    assert.equal(timer.succeeded(), true, 'failures came before');
    assert.equal(timer.succeeded(), false);
    assert.equal(timer.failed(() => undefined), 1000);
    timer.succeeded();
    assert.equal(timer.pending, false, 'a success cancels the waiting retry');
  });

  it('runs the retry once its wait is over', async () => {
    const timer = new RetryTimer({ firstMs: 1, maxMs: 10 });
    await withTimeout(new Promise<void>((resolve) => timer.failed(resolve)), 10_000, 'the retry');
    assert.equal(timer.pending, false);
  });
});
