/** The longest delay a JavaScript timer can hold (about 24.8 days); longer ones would fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Two thirds of the leaf's nominal lifetime (not of its certificate's validity, which the clock-skew
 * allowance widens): when renewal starts, counted from issuance. Capped at the timer limit: a
 * lifetime above ~37 days renews after ~24.8 days instead of looping at once.
 */
export function renewalDelayMs(lifetimeMs: number | undefined): number {
  if (lifetimeMs === undefined || lifetimeMs <= 0) return 60_000;
  return Math.min(MAX_TIMER_MS, Math.max(1000, Math.floor((lifetimeMs * 2) / 3)));
}
