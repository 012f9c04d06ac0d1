/** Timings the peer machine needs, derived from configuration (milliseconds). */
export interface RetryPolicy {
  /** First retry delay. */
  readonly baseMs: number;
  /** Ceiling of every delay, and the steady cadence once the fast retries are used up. */
  readonly capMs: number;
  /** Number of fast (exponential) retries before the steady cadence. */
  readonly fastRetries: number;
}

/**
 * Delay before retry number `attempt` (1-based): base·2^(attempt−1), capped, for the first
 * `fastRetries` attempts; the cap (retry_timer) after that, forever, so a BMC heals on its own.
 * `jitter` in [0, 1) removes up to a quarter of the delay, so that peers restarting together
 * do not retry in lockstep. Pure: the caller supplies the randomness.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, jitter = 0): number {
  const n = Math.max(1, Math.floor(attempt));
  const exponential = n <= policy.fastRetries ? policy.baseMs * 2 ** (n - 1) : policy.capMs;
  const capped = Math.min(policy.capMs, exponential);
  const j = Math.min(Math.max(jitter, 0), 0.999999);
  return Math.round(capped * (1 - j / 4));
}
