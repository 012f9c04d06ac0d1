/**
 * The requester chart with a scripted exchange actor: the happy path runs the steps in DSP0274's
 * order (looping over certificate chunks) to Verified; a failure or a silent responder at any step
 * ends in Failed with that step's reason, and no later step runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { type SpdmExchangeInput, spdmRequesterMachine, type SpdmRequesterStep, type SpdmStepOutput } from '../../machines/spdm-requester.machine.ts';

const ORDER: SpdmRequesterStep[] = ['version', 'capabilities', 'algorithms', 'digests', 'certificate', 'challenge', 'measurements'];

function run(script: (step: SpdmRequesterStep, n: number) => Promise<SpdmStepOutput>) {
  const calls: SpdmRequesterStep[] = [];
  const clock = new SimulatedClock();
  const actor = createActor(
    spdmRequesterMachine.provide({
      actors: {
        exchange: fromPromise<SpdmStepOutput, SpdmExchangeInput>(({ input }) => {
          calls.push(input.step);
          return script(input.step, calls.filter((c) => c === input.step).length);
        }),
      },
    }),
    { input: { exchangeTimeoutMs: 1000, exchanger: { run: () => Promise.reject(new Error('the scripted actor runs instead')) } }, clock },
  );
  actor.start();
  return { actor, calls, clock };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('SPDM requester chart', () => {
  it('runs VCA, digests, three certificate chunks, challenge, measurements, then Verified', async () => {
    const { actor, calls } = run(async (step, n) => ({ more: step === 'certificate' && n < 3 }));
    for (let i = 0; i < 20; i++) await settle();
    assert.equal(actor.getSnapshot().value, 'Verified');
    assert.deepEqual(actor.getSnapshot().output, { verified: true });
    assert.deepEqual(calls, ['version', 'capabilities', 'algorithms', 'digests', 'certificate', 'certificate', 'certificate', 'challenge', 'measurements']);
    assert.equal(actor.getSnapshot().context.chunks, 2);
  });

  for (const failing of ORDER) {
    it(`a failure at ${failing} ends in Failed with its code and reason, and nothing after it runs`, async () => {
      const { actor, calls } = run(async (step) => {
        if (step === failing) throw Object.assign(new Error(`${step} went wrong`), { code: 'BAD_SIGNATURE' });
        return { more: false };
      });
      for (let i = 0; i < 20; i++) await settle();
      assert.equal(actor.getSnapshot().value, 'Failed');
      assert.deepEqual(actor.getSnapshot().output, { verified: false, failure: { code: 'BAD_SIGNATURE', message: `${failing} went wrong` } });
      assert.deepEqual(calls, ORDER.slice(0, ORDER.indexOf(failing) + 1));
    });

    it(`a responder silent at ${failing} ends in Failed with TIMEOUT after the exchange deadline`, async () => {
      const { actor, clock } = run((step) => (step === failing ? new Promise<SpdmStepOutput>(() => undefined) : Promise.resolve({ more: false })));
      for (let i = 0; i < 20; i++) await settle();
      assert.notEqual(actor.getSnapshot().value, 'Failed');
      clock.increment(999);
      assert.notEqual(actor.getSnapshot().value, 'Failed');
      clock.increment(1);
      assert.equal(actor.getSnapshot().value, 'Failed');
      assert.deepEqual(actor.getSnapshot().output, { verified: false, failure: { code: 'TIMEOUT', message: `${failing}: no valid response in time` } });
    });
  }
});
