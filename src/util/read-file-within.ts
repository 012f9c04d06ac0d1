import { readFile, stat } from 'node:fs/promises';
import { ATOMIC_WRITE_TIMEOUT_MS } from './atomic-file.ts';
import { withTimeout } from './with-timeout.ts';

/**
 * How long reading one small file may take unless the caller says otherwise: as long as an atomic
 * write may (only a disk that hangs, or a FIFO in the file's place, takes that long).
 */
export const FILE_READ_TIMEOUT_MS = ATOMIC_WRITE_TIMEOUT_MS;

/** How to read: the deadline, and the size beyond which the file is refused unread. */
export interface ReadWithin {
  /** Default FILE_READ_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** A larger file is refused (`larger than N bytes`) before it is read. */
  readonly maxBytes?: number;
}

/** Reads under way, by path and size limit: one that ran past its deadline still holds one of libuv's threads. */
const underWay = new Map<string, Promise<Buffer>>();

/**
 * A file's content; rejects with a TimeoutError `reading <path> timed out after <ms> ms` at the
 * deadline. The file system calls cannot be cancelled: one that hangs keeps one of libuv's four
 * threads until the disk answers. A read of a path still under way is joined rather than started
 * again, so retries of a read that hangs never tie up the threads every other file system call needs.
 */
export function readBytesWithin(path: string, o: ReadWithin = {}): Promise<Buffer> {
  const key = `${o.maxBytes ?? ''}:${path}`;
  let read = underWay.get(key);
  if (!read) {
    const started = readBounded(path, o.maxBytes);
    const forget = () => {
      if (underWay.get(key) === started) underWay.delete(key);
    };
    started.then(forget, forget);
    underWay.set(key, started);
    read = started;
  }
  const ms = o.timeoutMs ?? FILE_READ_TIMEOUT_MS;
  return withTimeout(read, ms, `reading ${path}`);
}

/** A text file's content (UTF-8), read as readBytesWithin reads. */
export async function readTextWithin(path: string, o: ReadWithin = {}): Promise<string> {
  return (await readBytesWithin(path, o)).toString('utf8');
}

async function readBounded(path: string, maxBytes: number | undefined): Promise<Buffer> {
  if (maxBytes !== undefined && (await stat(path)).size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
  return await readFile(path);
}
