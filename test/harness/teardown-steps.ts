import { withTimeout } from '../../src/util/with-timeout.ts';

/** One step of a teardown: what it does (for the error) and the doing. */
export type TeardownStep = readonly [what: string, run: () => unknown];

/** Deadline of one teardown step by default: above stopProcess's own (SIGTERM grace, then SIGKILL and 30 s). */
export const TEARDOWN_STEP_MS = 60_000;

/**
 * Runs every step in order, each with a deadline, whatever the ones before did, then throws what
 * failed (an AggregateError for more than one). A teardown that stops at its first failure leaves
 * the rest running: a server still listening or a child process keeps the test file's process
 * alive, and node:test skips the `after` hooks that follow a failed one.
 */
export async function runTeardown(steps: readonly TeardownStep[], stepMs = TEARDOWN_STEP_MS): Promise<void> {
  const failures: unknown[] = [];
  for (const [what, run] of steps) {
    try {
      await withTimeout(Promise.resolve().then(run), stepMs, what);
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} teardown steps failed: ${failures.map(String).join('; ')}`);
}
