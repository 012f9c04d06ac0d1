import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

/** What the reader last saw: the file's modification time and size, and the start they gave. */
interface Seen {
  readonly key: string;
  readonly start: number | undefined;
}

const keyOf = (st: Stats) => `${st.mtimeMs}:${st.size}`;
const startOf = (pem: Buffer) => Date.parse(new X509Certificate(pem).validFrom);

/**
 * A reader of when this BMC's CA certificate (`self_ca.pem`) starts, epoch ms, or undefined when
 * there is none (or it cannot be read): the clock watch's floor, asked for every 2 s on the daemon's
 * one thread. Only a regular file is read: a FIFO or a device in its place reads as none.
 *
 * The first value is read at creation, synchronously (the machine's input needs it, and the start
 * reads its other files the same way). After that each call answers at once with what was read last
 * and starts a read of the file in the background, re-parsing it only when its modification time or
 * size changed; a change is seen by the next call. Nothing waits for that read, so it has no
 * deadline: on a disk that hangs it holds one of libuv's threads until the disk answers, no second
 * read is started meanwhile, and the calls keep the last value (the daemon's thread is never blocked).
 */
export function caStartReader(file: string): () => number | undefined {
  let seen = readNow(file);
  let reading = false;

  const refresh = async () => {
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new Error(`${file} is not a regular file`);
      const key = keyOf(st);
      if (seen?.key !== key) seen = { key, start: startOf(await readFile(file)) };
    } catch {
      seen = undefined;
    }
  };
  return () => {
    if (!reading) {
      reading = true;
      void refresh().finally(() => {
        reading = false;
      });
    }
    return seen?.start;
  };
}

/** The first read: synchronous, of a regular file only. */
function readNow(file: string): Seen | undefined {
  try {
    const st = statSync(file);
    if (!st.isFile()) return undefined;
    return { key: keyOf(st), start: startOf(readFileSync(file)) };
  } catch {
    return undefined;
  }
}
