import { CLOCK_SKEW_ALLOWANCE_MS } from './skew-allowance.ts';

/** What the wall clock is checked against: all epoch milliseconds. */
export interface ClockFacts {
  readonly now: number;
  /** When this daemon was built (src/clock/build-time.ts). */
  readonly buildTimeMs: number;
  /** notBefore of this BMC's CA certificate, when there is one. */
  readonly caNotBeforeMs?: number;
}

/**
 * Why the wall clock cannot be right (undefined: it is plausible): earlier than this build less the
 * clock-skew allowance (an unset RTC says 1970 or 2000), or earlier than the start of this BMC's own
 * CA certificate, which was made with a clock that was then, less the allowance, later than this.
 * Certificates issued with such a clock would be useless to every peer.
 */
export function clockProblem(f: ClockFacts): string | undefined {
  const says = `the clock says ${iso(f.now)}`;
  if (f.now < f.buildTimeMs - CLOCK_SKEW_ALLOWANCE_MS) return `${says}, before this build (${iso(f.buildTimeMs)})`;
  if (f.caNotBeforeMs !== undefined && f.now < f.caNotBeforeMs) return `${says}, before this BMC's CA certificate starts (${iso(f.caNotBeforeMs)})`;
  return undefined;
}

const iso = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms));
