import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/** libuv's pool: every asynchronous file system call of this process runs on one of its threads. */
const POOL_SIZE = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);

/**
 * Stalls this process's asynchronous file system calls as a hung disk would: every thread of
 * libuv's pool blocks in open() of a FIFO (made in `dir`, created) that nobody writes to. Returns
 * what ends the stall; until it runs, no fs/promises call of this process completes.
 */
export async function stallFileSystem(dir: string): Promise<() => Promise<void>> {
  mkdirSync(dir, { recursive: true });
  const fifos = Array.from({ length: POOL_SIZE }, (_, i) => join(dir, `stall-${i}`));
  for (const f of fifos) execFileSync('mkfifo', [f]);
  const opens = fifos.map((f) => open(f, 'r'));
  return async () => {
    // openSync runs on the main thread, not in the stalled pool; it returns once the FIFO has its reader.
    for (const f of fifos) closeSync(openSync(f, 'w'));
    for (const fh of await Promise.all(opens)) await fh.close();
  };
}
