import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** libuv's pool: every asynchronous file system call of this process runs on one of its threads. */
export const POOL_SIZE = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);

/**
 * Stalls this process's asynchronous file system calls as a hung disk would: every thread of
 * libuv's pool blocks in open() of a FIFO (made in `dir`, created) that nobody writes to. Returns
 * what ends the stall; until it runs, no fs/promises call of this process completes.
 */
export async function stallFileSystem(dir: string): Promise<() => Promise<void>> {
  mkdirSync(dir, { recursive: true });
  const fifos = Array.from({ length: POOL_SIZE }, (_, i) => join(dir, `stall-${i}`));
  for (const f of fifos) makeFifo(f);
  const opens = fifos.map((f) => open(f, 'r'));
  return async () => {
    // openSync runs on the main thread, not in the stalled pool; it returns once the FIFO has its reader.
    for (const f of fifos) closeSync(openSync(f, 'w'));
    for (const fh of await Promise.all(opens)) await fh.close();
  };
}

/** Makes a FIFO at `path`: reading it (its open()) blocks until a writer comes, as a read of a disk that hangs does. */
export function makeFifo(path: string): void {
  execFileSync('mkfifo', [path], { timeout: 10_000 });
}

/**
 * Ends every read blocked in open() of the FIFO at `path`, in any process: a writer that opens it
 * without blocking (which succeeds only while a reader waits) and closes it gives each of them the
 * end of the file. Until then a process with such a read cannot even exit (node waits for the
 * threads of its pool at the exit).
 */
export function releaseFifoReaders(path: string): void {
  for (let i = 0; i < 100; i++) {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      return; // ENXIO: no reader left (or no FIFO any more)
    }
  }
}

/**
 * A file whose read never ends, for the tests of one file: `fifo`, a FIFO nobody writes to, in a
 * fresh temp directory `root`. After the file's tests its readers are released and `root` removed.
 */
export function hangingFile(prefix: string, name: string): { readonly root: string; readonly fifo: string } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const fifo = join(root, name);
  makeFifo(fifo);
  after(() => {
    releaseFifoReaders(fifo);
    rmSync(root, { recursive: true, force: true });
  }, { timeout: 60_000 });
  return { root, fifo };
}
