import winston from 'winston';
import { StderrTransport } from './log-destination.ts';
import { escapeForLog } from './log-escape.ts';

/** The daemon's logger type; children carry structured fields such as peer, state, event. */
export type Logger = winston.Logger;

/** The levels a logger can be set to (config `log_level`, `lldp-bridge --log-level`), most severe first. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** True when `level` is one of LOG_LEVELS. */
export const isLogLevel = (level: string): level is LogLevel => (LOG_LEVELS as readonly string[]).includes(level);

/** Field names whose values are never logged, whatever the caller passes. */
const SECRET_FIELD = /pin|passw|secret|private|nonce|^key$|keypem|key_pem|sopin/i;

/** Drops secret-looking fields from a log record: PINs, keys and nonces never reach a log. */
export const redactSecrets = winston.format((info) => {
  for (const field of Object.keys(info)) {
    if (SECRET_FIELD.test(field)) info[field] = '[redacted]';
  }
  return info;
});

/** sd-daemon priority prefixes, so journald files each line at the right level. */
const JOURNAL_PRIORITY: Record<string, number> = { error: 3, warn: 4, info: 6, debug: 7 } satisfies Record<LogLevel, number>;

/**
 * The `<N>` prefix of a line written to stderr without the logger (a fatal start-up line, before
 * or instead of the logger): the same priority the logger would give, or nothing outside systemd.
 */
export function journalPrefix(level: 'error' | 'warn' | 'info'): string {
  return process.env['JOURNAL_STREAM'] ? `<${JOURNAL_PRIORITY[level] ?? 6}>` : '';
}

const FIELDS = ['peer', 'state', 'event', 'code', 'reason'] as const;

function fieldsOf(info: winston.Logform.TransformableInfo): string {
  const parts: string[] = [];
  for (const f of FIELDS) {
    const v = info[f];
    if (v !== undefined && v !== null && v !== '') parts.push(`${f}=${escapeForLog(String(v))}`);
  }
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/** Options for the root logger. */
export interface LoggerOptions {
  readonly level: string;
  /** Force journald formatting; default: detected from JOURNAL_STREAM (set by systemd). */
  readonly journald?: boolean;
}

/**
 * Builds the root logger. Under systemd (JOURNAL_STREAM set) lines carry `<N>` priority prefixes
 * that journald parses; otherwise timestamped console lines. Both go to stderr so stdout stays free,
 * written without blocking the event loop (src/log-destination.ts).
 * The message and every field are escaped (src/log-escape.ts): one call logs exactly one line, and
 * no text from the network or D-Bus can break, reorder or hide part of it.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const journald = opts.journald ?? Boolean(process.env['JOURNAL_STREAM']);
  const line = journald
    ? winston.format.printf(
        (info) => `<${JOURNAL_PRIORITY[info.level] ?? 6}>${escapeForLog(String(info.message))}${fieldsOf(info)}`,
      )
    : winston.format.printf(
        (info) => `${String(info['timestamp'])} ${info.level.padEnd(5)} ${escapeForLog(String(info.message))}${fieldsOf(info)}`,
      );
  return winston.createLogger({
    level: opts.level,
    format: winston.format.combine(redactSecrets(), winston.format.timestamp(), line),
    transports: [new StderrTransport()],
  });
}
