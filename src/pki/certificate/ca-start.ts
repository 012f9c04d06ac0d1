import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/**
 * A reader of when this BMC's CA certificate (`self_ca.pem`) starts, epoch ms, or undefined when
 * there is none (or it cannot be read): the clock watch's floor. The file is parsed again only when
 * its modification time or size changes. It reads synchronously (the clock watch's verdict is
 * synchronous, every 2 s), so only a regular file is read: a FIFO or a device in its place would
 * block the daemon's one thread, and with it every deadline, until something writes to it.
 */
export function caStartReader(file: string): () => number | undefined {
  let seen: { key: string; start: number | undefined } | undefined;
  return () => {
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error(`${file} is not a regular file`);
      const key = `${st.mtimeMs}:${st.size}`;
      if (seen?.key !== key) seen = { key, start: Date.parse(new X509Certificate(readFileSync(file)).validFrom) };
      return seen.start;
    } catch {
      seen = undefined;
      return undefined;
    }
  };
}
