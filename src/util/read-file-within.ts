import { readFile } from 'node:fs/promises';
import { ATOMIC_WRITE_TIMEOUT_MS } from './atomic-file.ts';
import { withTimeout } from './with-timeout.ts';

/**
 * How long reading one small file may take unless the caller says otherwise: as long as an atomic
 * write may (only a disk that hangs, or a FIFO in the file's place, takes that long).
 */
export const FILE_READ_TIMEOUT_MS = ATOMIC_WRITE_TIMEOUT_MS;

/** Reads under way, by path: one that ran past its deadline still holds one of libuv's threads. */
const underWay = new Map<string, Promise<string>>();

/**
 * A text file's content (UTF-8); rejects with a TimeoutError `reading <path> timed out after <ms> ms`
 * at the deadline. The read itself cannot be cancelled: it keeps one of libuv's four threads until
 * the disk answers. A read of a path still under way is joined rather than started again, so
 * retries of a read that hangs never tie up the threads every other file system call needs.
 */
export function readTextWithin(path: string, timeoutMs: number = FILE_READ_TIMEOUT_MS): Promise<string> {
  let read = underWay.get(path);
  if (!read) {
    const started = readFile(path, 'utf8');
    const forget = () => {
      if (underWay.get(path) === started) underWay.delete(path);
    };
    started.then(forget, forget);
    underWay.set(path, started);
    read = started;
  }
  return withTimeout(read, timeoutMs, `reading ${path}`);
}
