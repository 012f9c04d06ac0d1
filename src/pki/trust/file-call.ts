import { ATOMIC_WRITE_TIMEOUT_MS } from '../../util/atomic-file.ts';
import { TimeoutError, withTimeout } from '../../util/with-timeout.ts';

/**
 * How long one file system call of the trust store (a read, a link, an unlink, one atomic write)
 * may take: only a disk that hangs takes that long. The same as an atomic write's own deadline.
 */
export const TRUST_FILE_TIMEOUT_MS = ATOMIC_WRITE_TIMEOUT_MS;

/**
 * Runs one file system call under its owner's deadline (`what` names it in the error): the trust
 * store's file calls all go through one, so a hung disk fails them instead of holding the store.
 */
export type FileCall = <T>(what: string, call: () => Promise<T>) => Promise<T>;

/** A FileCall with a deadline of `ms` and nothing more, for work outside the store's queue (the legacy move). */
export function fileCallWithin(ms: number): FileCall {
  return (what, call) => withTimeout(call(), ms, what);
}

/** A fallback for a failed call, except that a timeout still fails: a hung disk must stop the work, not skip a file. */
export function unlessTimeout<T>(fallback: T): (err: unknown) => T {
  return (err) => {
    if (err instanceof TimeoutError) throw err;
    return fallback;
  };
}
