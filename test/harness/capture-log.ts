import { Writable } from 'node:stream';
import winston from 'winston';
import { redactSecrets, type Logger } from '../../src/log.ts';

/** A logger whose records a test can read back (after the same redaction the daemon applies). */
export interface CapturedLog {
  readonly log: Logger;
  /** Each record as `level message field=value…`. */
  lines(): string[];
}

/** Builds a debug-level logger that keeps every record in memory. */
export function captureLog(): CapturedLog {
  const records: string[] = [];
  const sink = new Writable({
    objectMode: true,
    write(info: Record<string, unknown>, _enc, done) {
      const fields = Object.entries(info)
        .filter(([k]) => k !== 'level' && k !== 'message' && typeof k === 'string')
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
      records.push(`${String(info['level'])} ${String(info['message'])} ${fields}`.trim());
      done();
    },
  });
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.combine(redactSecrets()),
    transports: [new winston.transports.Stream({ stream: sink })],
  });
  return { log, lines: () => [...records] };
}
