/** The error of an operation that ran out of time; `code` lets callers map it (e.g. to D-Bus Timeout). */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'TIMEOUT';
}

/** Rejects with a TimeoutError naming the operation after `ms`: every async operation gets a deadline. */
export function withTimeout<T>(op: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([op, deadline]).finally(() => clearTimeout(timer));
}
