import { Writable } from 'node:stream';
import winston from 'winston';
import { redactSecrets, type Logger } from '../../src/log.ts';

/** A logger whose records a test can read back (by default after the same redaction the daemon applies). */
export interface CapturedLog {
  readonly log: Logger;
  /** Each record as `level message field=value…`. */
  lines(): string[];
  /** Each record as winston handed it over: `level`, `message` and the structured fields. */
  records(): Record<string, unknown>[];
}

/** How a captured logger treats its records. */
export interface CaptureLogOptions {
  /**
   * Apply the daemon's redaction of secret-looking fields (default). false keeps every record as
   * the code logged it, for tests that assert no key material is logged even before redaction.
   */
  readonly redact?: boolean;
}

/** Builds a debug-level logger that keeps every record in memory. */
export function captureLog(opts: CaptureLogOptions = {}): CapturedLog {
  const records: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const sink = new Writable({
    objectMode: true,
    write(info: Record<string, unknown>, _enc, done) {
      records.push(info);
      lines.push(lineOf(info));
      done();
    },
  });
  const log = winston.createLogger({
    level: 'debug',
    ...(opts.redact === false ? {} : { format: winston.format.combine(redactSecrets()) }),
    transports: [new winston.transports.Stream({ stream: sink })],
  });
  return { log, lines: () => [...lines], records: () => [...records] };
}

/** `level message field=value…` */
function lineOf(info: Record<string, unknown>): string {
  const fields = Object.entries(info)
    .filter(([k]) => k !== 'level' && k !== 'message' && typeof k === 'string')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  return `${String(info['level'])} ${String(info['message'])} ${fields}`.trim();
}
