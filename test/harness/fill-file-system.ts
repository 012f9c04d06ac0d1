import { closeSync, openSync, writeSync } from 'node:fs';

/** Writes `path` until its file system is full (ENOSPC): a disk with no room left. Remove the file to free it. */
export function fillUntilFull(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}
