import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/**
 * A reader of when this BMC's CA certificate (`self_ca.pem`) starts, epoch ms, or undefined when
 * there is none (or it cannot be read): the clock watch's floor. The file is parsed again only when
 * its modification time or size changes.
 */
export function caStartReader(file: string): () => number | undefined {
  let seen: { key: string; start: number | undefined } | undefined;
  return () => {
    try {
      const st = statSync(file);
      const key = `${st.mtimeMs}:${st.size}`;
      if (seen?.key !== key) seen = { key, start: Date.parse(new X509Certificate(readFileSync(file)).validFrom) };
      return seen.start;
    } catch {
      seen = undefined;
      return undefined;
    }
  };
}
