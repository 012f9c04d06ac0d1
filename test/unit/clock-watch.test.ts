import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClockEvent } from '../../machines/events.ts';
import { clockProblem } from '../../src/clock/clock-plausibility.ts';
import { CLOCK_JUMP_THRESHOLD_MS, watchClock } from '../../src/clock/clock-watch.ts';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../../src/clock/skew-allowance.ts';
import { captureLog } from '../harness/capture-log.ts';

const BUILD = Date.parse('2026-12-06T00:00:00Z');
const HOUR = 3_600_000;

describe('clock plausibility', () => {
  it('a clock before this build (less the skew allowance) is implausible, and says why', () => {
    assert.equal(clockProblem({ now: BUILD + HOUR, buildTimeMs: BUILD }), undefined);
    assert.equal(clockProblem({ now: BUILD - CLOCK_SKEW_ALLOWANCE_MS + HOUR, buildTimeMs: BUILD }), undefined, 'a skewed clock is not an implausible one');
    assert.equal(clockProblem({ now: 0, buildTimeMs: BUILD }), 'the clock says 1970-01-01T00:00:00.000Z, before this build (2026-12-06T00:00:00.000Z)');
  });

  it("a clock before the start of this BMC's own CA certificate is implausible", () => {
    const caStart = BUILD + 400 * 24 * HOUR;
    assert.equal(clockProblem({ now: caStart + HOUR, buildTimeMs: BUILD, caNotBeforeMs: caStart }), undefined);
    assert.match(clockProblem({ now: caStart - HOUR, buildTimeMs: BUILD, caNotBeforeMs: caStart }) ?? '', /before this BMC's CA certificate starts \(2028-01-10T00:00:00.000Z\)/);
  });
});

describe('clock watch', () => {
  /** A watch on clocks the test moves: wall and monotonic advance together unless the wall clock jumps. */
  function rig(start: { wall: number; caStart?: number }) {
    const clocks = { wall: start.wall, mono: 1000 };
    const events: ClockEvent[] = [];
    const captured = captureLog();
    const watch = watchClock({
      buildTimeMs: BUILD,
      caNotBeforeMs: () => start.caStart,
      log: captured.log,
      wallNow: () => clocks.wall,
      monotonicNow: () => clocks.mono,
      intervalMs: 3_600_000,
    });
    const tick = (ms: number, jump = 0) => {
      clocks.mono += ms;
      clocks.wall += ms + jump;
      watch.check();
    };
    return { watch, events, captured, tick, clocks };
  }

  it('gives its first verdict at creation, then reports each change of verdict once', () => {
    const r = rig({ wall: 86_400_000 });
    assert.match(r.watch.problem() ?? '', /before this build/);
    assert.ok(r.captured.lines().some((l) => /^error the clock says 1970-01-02.* no certificate is issued until the clock is plausible/.test(l)));
    r.watch.start((e) => r.events.push(e));
    r.tick(2000);
    assert.equal(r.events.length, 0, 'no change, no event');
    r.tick(2000, BUILD - r.clocks.wall);
    assert.equal(r.watch.problem(), undefined);
    assert.deepEqual(r.events.map((e) => e.type), ['CLOCK_PLAUSIBLE', 'CLOCK_JUMPED']);
    r.tick(2000);
    r.tick(2000, -BUILD);
    assert.deepEqual(r.events.map((e) => e.type), ['CLOCK_PLAUSIBLE', 'CLOCK_JUMPED', 'CLOCK_IMPLAUSIBLE', 'CLOCK_JUMPED']);
    r.watch.stop();
  });

  it('reports a jump of the wall clock against the monotonic clock, either way, beyond the threshold only', () => {
    const r = rig({ wall: BUILD + HOUR });
    r.watch.start((e) => r.events.push(e));
    r.tick(2000, CLOCK_JUMP_THRESHOLD_MS - 1000);
    r.tick(2000, -(CLOCK_JUMP_THRESHOLD_MS - 1000));
    assert.equal(r.events.length, 0, 'an NTP slew or a small step is no jump');
    r.tick(2000, 24 * HOUR);
    r.tick(60_000);
    r.tick(2000, -24 * HOUR);
    assert.deepEqual(r.events, [
      { type: 'CLOCK_JUMPED', byMs: 24 * HOUR },
      { type: 'CLOCK_JUMPED', byMs: -24 * HOUR },
    ]);
    const warnings = r.captured.lines().filter((l) => l.startsWith('warn'));
    assert.match(warnings[0] ?? '', /the wall clock jumped by \+24\.00 h against the monotonic clock: issuing new leaves/);
    assert.match(warnings[1] ?? '', /jumped by −24\.00 h/);
    r.watch.stop();
  });
});
