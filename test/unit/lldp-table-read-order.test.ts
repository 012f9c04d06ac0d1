/**
 * The lldp bridge's full-table reads against its watch events (src/lldp/table-read-order.ts): one
 * read at a time, and a table whose read began before the latest event is never applied. The race
 * itself (an `lldpcli show` that lldpd answers before an event and the bridge receives after it)
 * cannot be provoked on demand with a real lldpd, so the ordering is checked here, on the pure part.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_STALE_RERUNS, TableReadOrder } from '../../src/lldp/table-read-order.ts';

describe('the lldp bridge: order of full reads and watch events', () => {
  it('a read with no event while it ran is applied, and nothing more is read', () => {
    const order = new TableReadOrder();
    const read = order.begin();
    assert.ok(read);
    assert.deepEqual(order.end(read), { apply: true, again: false });
  });

  it('a read that began before a watch event (a neighbour added meanwhile) is not applied, and is read again', () => {
    const order = new TableReadOrder();
    const read = order.begin();
    assert.ok(read);
    order.event(); // the watch reports a new neighbour while lldpcli show runs
    assert.deepEqual(order.end(read), { apply: false, again: true });
    const second = order.begin();
    assert.ok(second, 'the read again starts');
    assert.deepEqual(order.end(second), { apply: true, again: false });
  });

  it('one read at a time: a tick while one runs starts none, and makes one more read once it ends', () => {
    const order = new TableReadOrder();
    const read = order.begin();
    assert.ok(read);
    assert.equal(order.begin(), undefined);
    assert.equal(order.begin(), undefined, 'ticks coalesce');
    assert.deepEqual(order.end(read), { apply: true, again: true });
    const next = order.begin();
    assert.ok(next);
    assert.deepEqual(order.end(next), { apply: true, again: false }, 'the coalesced ticks made one read, not two');
  });

  it('a failed read (ended without a table) frees the slot for the next one', () => {
    const order = new TableReadOrder();
    const read = order.begin();
    assert.ok(read);
    order.end(read);
    assert.ok(order.begin());
  });

  it(`under events that never stop, stale reads are re-run ${MAX_STALE_RERUNS} times in a row, then left to the next tick`, () => {
    const order = new TableReadOrder();
    let reruns = 0;
    let read = order.begin();
    // Bounded: a regression that re-ran for ever would otherwise spin here, where no deadline can fire.
    while (read && reruns <= MAX_STALE_RERUNS) {
      order.event();
      const outcome = order.end(read);
      assert.equal(outcome.apply, false);
      if (!outcome.again) break;
      reruns += 1;
      read = order.begin();
    }
    assert.equal(reruns, MAX_STALE_RERUNS);
    const tick = order.begin();
    assert.ok(tick, 'the next tick reads');
    assert.deepEqual(order.end(tick), { apply: true, again: false }, 'a quiet read is applied again');
  });

  it('ending a read that is not the one in progress is a bug, reported', () => {
    const order = new TableReadOrder();
    const read = order.begin();
    assert.ok(read);
    order.end(read);
    assert.throws(() => order.end(read), /not the read in progress/);
  });

  it('whatever the interleaving, never two reads at once, and a table is applied only when no event came after its read began', () => {
    type Step = 'tick' | 'event' | 'finish';
    fc.assert(
      fc.property(fc.array(fc.constantFrom<Step>('tick', 'event', 'finish'), { maxLength: 60 }), (steps) => {
        const order = new TableReadOrder();
        let running: { read: NonNullable<ReturnType<TableReadOrder['begin']>>; eventsAtStart: number } | undefined;
        let events = 0;
        const start = () => {
          const read = order.begin();
          if (read) {
            assert.equal(running, undefined, 'two reads at once');
            running = { read, eventsAtStart: events };
          } else assert.ok(running, 'no read started, yet none runs');
        };
        for (const step of steps) {
          if (step === 'tick') start();
          else if (step === 'event') {
            events += 1;
            order.event();
          } else if (running) {
            const { read, eventsAtStart } = running;
            running = undefined;
            const outcome = order.end(read);
            assert.equal(outcome.apply, eventsAtStart === events, 'applied exactly when no event came meanwhile');
            if (outcome.again) start();
          }
        }
      }),
    );
  });
});
