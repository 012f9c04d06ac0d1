import type { ClockEvent } from '../../machines/events.ts';
import type { Logger } from '../log.ts';
import { clockProblem } from './clock-plausibility.ts';

/** How often the wall clock is compared with the monotonic clock and checked for plausibility. */
export const CLOCK_CHECK_INTERVAL_MS = 2000;

/**
 * How far the wall clock may move against the monotonic clock between two checks before it counts
 * as a jump (an NTP step, `date -s`). NTP's slewing moves it by at most 0.5 ms/s, far less.
 */
export const CLOCK_JUMP_THRESHOLD_MS = 30_000;

/** Where the watch reads its clocks and facts from; tests replace the clocks. */
export interface ClockWatchOptions {
  readonly buildTimeMs: number;
  /** notBefore of this BMC's CA certificate, when there is one (read again on every check). */
  readonly caNotBeforeMs: () => number | undefined;
  readonly log: Logger;
  readonly wallNow?: () => number;
  readonly monotonicNow?: () => number;
  readonly intervalMs?: number;
}

/** The watch: its verdict now; once started, it sends every change of verdict and every jump. */
export interface ClockWatch {
  /** Why the clock is implausible now (undefined: it is plausible). */
  problem(): string | undefined;
  /**
   * Checks at once (a change since the first verdict is sent), then every intervalMs. `send`
   * receives CLOCK_IMPLAUSIBLE / CLOCK_PLAUSIBLE on every change of verdict, and CLOCK_JUMPED.
   */
  start(send: (event: ClockEvent) => void): void;
  /** Compares the clocks now (the timer calls this every intervalMs). */
  check(): void;
  stop(): void;
}

const hours = (ms: number) => `${ms < 0 ? '−' : '+'}${(Math.abs(ms) / 3_600_000).toFixed(2)} h`;

/**
 * Watches the wall clock: tells the daemon machine when it becomes implausible or plausible again
 * (src/clock/clock-plausibility.ts), and when it jumps against the monotonic clock by more than
 * CLOCK_JUMP_THRESHOLD_MS, so that leaves computed from the old time are issued again at once.
 * The first verdict is taken at creation (problem()), the machine's input; start() once the
 * machine runs. The machine's own timers are monotonic and need no help.
 */
export function watchClock(o: ClockWatchOptions): ClockWatch {
  const wallNow = o.wallNow ?? Date.now;
  const monotonicNow = o.monotonicNow ?? (() => performance.now());
  const problemNow = () => clockProblem({ now: wallNow(), buildTimeMs: o.buildTimeMs, caNotBeforeMs: o.caNotBeforeMs() });
  let problem = problemNow();
  if (problem) o.log.error(`${problem}: no certificate is issued until the clock is plausible`, { event: 'CLOCK_IMPLAUSIBLE' });
  let lastWall = wallNow();
  let lastMono = monotonicNow();
  let send: (event: ClockEvent) => void = () => undefined;
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    const wall = wallNow();
    const mono = monotonicNow();
    const drift = wall - lastWall - (mono - lastMono);
    lastWall = wall;
    lastMono = mono;
    const next = problemNow();
    if (next && !problem) {
      o.log.error(`${next}: no certificate is issued until the clock is plausible`, { event: 'CLOCK_IMPLAUSIBLE' });
      send({ type: 'CLOCK_IMPLAUSIBLE', reason: next });
    } else if (!next && problem) {
      o.log.info(`the clock is plausible again (${new Date(wall).toISOString()})`, { event: 'CLOCK_PLAUSIBLE' });
      send({ type: 'CLOCK_PLAUSIBLE' });
    }
    problem = next;
    if (Math.abs(drift) > CLOCK_JUMP_THRESHOLD_MS) {
      o.log.warn(`the wall clock jumped by ${hours(drift)} against the monotonic clock: issuing new leaves`, { event: 'CLOCK_JUMPED' });
      send({ type: 'CLOCK_JUMPED', byMs: drift });
    }
  };
  return {
    problem: () => problem,
    start(to) {
      send = to;
      check();
      clearInterval(timer);
      timer = setInterval(check, o.intervalMs ?? CLOCK_CHECK_INTERVAL_MS);
      timer.unref();
    },
    check,
    stop: () => clearInterval(timer),
  };
}
