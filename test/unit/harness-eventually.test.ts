/**
 * The harness's polling wait has a deadline that holds even when one check never settles (a
 * connection nobody answers): the suite cannot hang in it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { eventually } from '../harness/daemon.ts';

describe('eventually()', () => {
  it('is true as soon as a check is', async () => {
    let calls = 0;
    assert.equal(await withTimeout(eventually(() => ++calls === 3, 30_000, 1), 30_000, 'the test waiting'), true);
    assert.equal(calls, 3);
  });

  it('counts a check that answers after the deadline', async () => {
    // Answers 50 ms past the deadline of 200 ms: within the 200 ms a check may run past it.
    const late = () => new Promise<boolean>((res) => setTimeout(() => res(true), 250));
    assert.equal(await withTimeout(eventually(late, 200), 30_000, 'the test waiting'), true);
  });

  it('is false soon after its deadline when a check never settles', async () => {
    // eventually's own deadline answers; the test's only keeps a regression from hanging.
    const never = () => new Promise<boolean>(() => undefined);
    assert.equal(await withTimeout(eventually(never, 200), 30_000, 'the test waiting for eventually()'), false);
  });
});
