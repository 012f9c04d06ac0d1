// The SPDM requester's one deadline (src/spdm/requester-deadline.ts): every wait of an attestation
// (connect, greeting, each response, the chart) races the same clock, and each ends with TIMEOUT.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequesterDeadline } from '../../src/spdm/requester-deadline.ts';
import { isSpdmError } from '../../src/spdm/index.ts';

const never = new Promise<never>(() => undefined);

describe('RequesterDeadline', () => {
  it('lets an operation that settles in time settle as it does', async () => {
    const deadline = new RequesterDeadline(60_000, 'attestation of h:1');
    try {
      assert.equal(await deadline.race(Promise.resolve(7), 'GET_VERSION'), 7);
      await assert.rejects(deadline.race(Promise.reject(new Error('refused')), 'GET_VERSION'), /refused/);
      assert.equal(deadline.expired('GET_VERSION'), undefined);
    } finally {
      deadline.clear();
    }
  });

  it('ends every wait still running when it passes with TIMEOUT naming the step, and runs its clean-up', async () => {
    const deadline = new RequesterDeadline(1, 'attestation of h:1');
    const cleaned: string[] = [];
    const first = deadline.race(never, 'connecting to h:1', () => cleaned.push('socket'));
    const second = deadline.race(never, undefined, () => cleaned.push('chart'));
    await assert.rejects(first, (err) => isSpdmError(err) && err.code === 'TIMEOUT' && err.message === 'connecting to h:1: attestation of h:1 did not finish within 1 ms');
    await assert.rejects(second, (err) => isSpdmError(err) && err.code === 'TIMEOUT' && err.message === 'attestation of h:1 did not finish within 1 ms');
    assert.deepEqual(cleaned.sort(), ['chart', 'socket']);
  });

  it('once passed, a wait that starts later fails at once (the budget is shared, not per wait)', async () => {
    const deadline = new RequesterDeadline(1, 'attestation of h:1');
    await assert.rejects(deadline.race(never, 'first'), /first: attestation of h:1 did not finish within 1 ms/);
    let cleaned = false;
    await assert.rejects(
      deadline.race(never, 'GET_DIGESTS: no response', () => {
        cleaned = true;
      }),
      (err) => isSpdmError(err) && err.code === 'TIMEOUT' && /^GET_DIGESTS: no response: /.test(err.message),
    );
    assert.equal(cleaned, true);
  });
});
