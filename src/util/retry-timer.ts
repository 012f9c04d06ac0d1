import { backoffDelay } from '../../machines/backoff.ts';

/**
 * One retry after a failure, waiting twice as long after each failure in a row (from `firstMs` up
 * to `maxMs`), until a success starts the waits over: the file work that a full or hung disk
 * fails (the trust store's links and late writes, the state file) is tried again without a loop
 * or a flood of log lines. At most one retry waits at a time; its timer never keeps the process up.
 */
export class RetryTimer {
  readonly #policy: { readonly baseMs: number; readonly capMs: number; readonly fastRetries: number };
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;

  constructor(o: { readonly firstMs: number; readonly maxMs: number }) {
    this.#policy = { baseMs: o.firstMs, capMs: o.maxMs, fastRetries: Number.POSITIVE_INFINITY };
  }

  /** Whether a retry is waiting. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** After a failure: `retry` runs after the next wait, unless a retry is waiting already. Returns that wait (ms), or undefined. */
  failed(retry: () => void): number | undefined {
    if (this.#timer) return undefined;
    this.#failures++;
    const waitMs = backoffDelay(this.#policy, this.#failures);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      retry();
    }, waitMs);
    this.#timer.unref();
    return waitMs;
  }

  /** After a success: cancels a waiting retry, and the next failure waits `firstMs` again. Returns whether failures came before. */
  succeeded(): boolean {
    const recovered = this.#failures > 0;
    this.#failures = 0;
    this.stop();
    return recovered;
  }

  /** Cancels a waiting retry. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
