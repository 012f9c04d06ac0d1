import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { LEAF_EXPIRY_RECHECK_MS, leafNotAfterMs, watchLeafExpiry } from '../../src/tls/peer-leaf-expiry.ts';

const DAY = 86_400_000;
/** Node runs a setTimeout longer than this at once. */
const NODE_MAX_DELAY_MS = 2 ** 31 - 1;

describe('peer leaf expiry watch', () => {
  /** The wall clock the watch reads: mocked timers' elapsed time, plus whatever step the test applies. */
  let wall = 0;
  let delays: number[] = [];

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    wall = Date.parse('2026-12-07T00:00:00Z');
    delays = [];
    const real = setTimeout;
    // Record every delay the watch asks for, then hand the call to the mocked setTimeout.
    mock.method(globalThis, 'setTimeout', (fn: () => void, ms: number) => {
      delays.push(ms);
      return real(fn, ms);
    });
  }, { timeout: 5000 });

  afterEach(() => {
    mock.restoreAll();
    mock.timers.reset();
  }, { timeout: 5000 });

  /** Moves the monotonic clock (timers fire) and the wall clock together. */
  function elapse(ms: number): void {
    wall += ms;
    mock.timers.tick(ms);
  }

  function watch(notAfterMs: number) {
    const fired: number[] = [];
    const w = watchLeafExpiry({ notAfterMs, wallNow: () => wall, onExpired: () => fired.push(wall) });
    return { fired, stop: () => w.stop() };
  }

  it('fires just after notAfter by the wall clock, not before, and once', () => {
    const notAfter = wall + 5000;
    const w = watch(notAfter);
    elapse(5000);
    assert.deepEqual(w.fired, [], 'at notAfter the leaf is still valid (OpenSSL refuses only after it)');
    elapse(1);
    assert.deepEqual(w.fired, [notAfter + 1]);
    elapse(10 * LEAF_EXPIRY_RECHECK_MS);
    assert.equal(w.fired.length, 1, 'once');
  });

  it('follows a leaf of 369 days without any delay past what Node can wait, and fires at its end', () => {
    const notAfter = wall + 369 * DAY;
    const w = watch(notAfter);
    elapse(369 * DAY - 1);
    assert.deepEqual(w.fired, []);
    elapse(2);
    assert.equal(w.fired.length, 1);
    assert.ok(delays.length > 1, 're-armed');
    assert.ok(Math.max(...delays) <= LEAF_EXPIRY_RECHECK_MS && LEAF_EXPIRY_RECHECK_MS < NODE_MAX_DELAY_MS, `longest delay ${Math.max(...delays)} ms`);
  });

  it('a wall clock stepped back keeps the link: the leaf is judged by the clock, not by elapsed time', () => {
    const notAfter = wall + 10 * 60_000;
    const w = watch(notAfter);
    elapse(5 * 60_000);
    wall -= 3_600_000; // NTP steps the clock back an hour
    elapse(6 * 60_000);
    assert.deepEqual(w.fired, [], 'ten minutes have passed, but by the clock the leaf has an hour left');
    elapse(60 * 60_000);
    assert.equal(w.fired.length, 1);
    assert.ok((w.fired[0] ?? 0) > notAfter && (w.fired[0] ?? 0) <= notAfter + LEAF_EXPIRY_RECHECK_MS);
  });

  it('a wall clock stepped forward past notAfter ends the link within one recheck step', () => {
    const w = watch(wall + 2 * DAY);
    elapse(60_000);
    wall += 3 * DAY; // the clock jumps three days ahead
    elapse(LEAF_EXPIRY_RECHECK_MS);
    assert.equal(w.fired.length, 1);
  });

  it('stop() ends the watch', () => {
    const w = watch(wall + 1000);
    w.stop();
    elapse(10 * LEAF_EXPIRY_RECHECK_MS);
    assert.deepEqual(w.fired, []);
  });

  it("reads notAfter from Node's certificate text, and nothing from an unreadable one", () => {
    assert.equal(leafNotAfterMs({ valid_to: 'Dec  7 04:30:40 2026 GMT' }), Date.parse('2026-12-07T04:30:40Z'));
    assert.equal(leafNotAfterMs({ valid_to: 'garbage' }), undefined);
    assert.equal(leafNotAfterMs(undefined), undefined);
  });
});
