import { writeLogLine } from './log-destination.ts';
import { escapeForLog } from './log-escape.ts';

/** Structured fields of a log record (peer, state, event, code, reason are printed; others are not). */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * The daemon's logger: four levels, and children that carry structured fields such as peer, state,
 * event. A winston logger satisfies it too (the tests' captured logs).
 */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** A logger whose records carry `fields` (a record's own fields win). */
  child(fields: LogFields): Logger;
  isDebugEnabled(): boolean;
}

/** Field names whose values are never logged, whatever the caller passes. */
const SECRET_FIELD = /pin|passw|secret|private|nonce|^key$|keypem|key_pem|sopin/i;

/** Drops secret-looking fields from a log record (in place): PINs, keys and nonces never reach a log. */
export function redactSecretFields<R extends Record<string, unknown>>(record: R): R {
  for (const field of Object.keys(record)) {
    if (SECRET_FIELD.test(field)) (record as Record<string, unknown>)[field] = '[redacted]';
  }
  return record;
}

/** sd-daemon priority prefixes, so journald files each line at the right level. */
const JOURNAL_PRIORITY = { error: 3, warn: 4, info: 6, debug: 7 } as const;
type Level = keyof typeof JOURNAL_PRIORITY;
/** Severity order: a logger at level L writes L and everything before it. */
const LEVELS: readonly Level[] = ['error', 'warn', 'info', 'debug'];

/**
 * The `<N>` prefix of a line written to stderr without the logger (a fatal start-up line, before
 * or instead of the logger): the same priority the logger would give, or nothing outside systemd.
 */
export function journalPrefix(level: 'error' | 'warn' | 'info'): string {
  return process.env['JOURNAL_STREAM'] ? `<${JOURNAL_PRIORITY[level]}>` : '';
}

const FIELDS = ['peer', 'state', 'event', 'code', 'reason'] as const;

function fieldsOf(record: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const f of FIELDS) {
    const v = record[f];
    if (v !== undefined && v !== null && v !== '') parts.push(`${f}=${escapeForLog(String(v))}`);
  }
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/** Options for the root logger. */
export interface LoggerOptions {
  /** error, warn, info or debug; anything else means info. */
  readonly level: string;
  /** Force journald formatting; default: detected from JOURNAL_STREAM (set by systemd). */
  readonly journald?: boolean;
}

/** How every logger of one createLogger() call writes a record. */
interface LineWriter {
  readonly threshold: number;
  write(level: Level, message: string, record: Record<string, unknown>): void;
}

class LineLogger implements Logger {
  readonly #out: LineWriter;
  readonly #fields: LogFields;

  constructor(out: LineWriter, fields: LogFields) {
    this.#out = out;
    this.#fields = fields;
  }

  #log(level: Level, message: string, fields: LogFields | undefined): void {
    if (LEVELS.indexOf(level) > this.#out.threshold) return;
    this.#out.write(level, message, redactSecretFields({ ...this.#fields, ...fields }));
  }

  error(message: string, fields?: LogFields): void {
    this.#log('error', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#log('warn', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#log('info', message, fields);
  }
  debug(message: string, fields?: LogFields): void {
    this.#log('debug', message, fields);
  }
  child(fields: LogFields): Logger {
    return new LineLogger(this.#out, { ...this.#fields, ...fields });
  }
  isDebugEnabled(): boolean {
    return this.#out.threshold >= LEVELS.indexOf('debug');
  }
}

/**
 * Builds the root logger. Under systemd (JOURNAL_STREAM set) lines carry `<N>` priority prefixes
 * that journald parses; otherwise timestamped console lines. Both go to stderr so stdout stays free,
 * written without blocking the event loop (src/log-destination.ts). A few lines of our own rather
 * than a logging library: nothing to load at start, nothing between a call and its line.
 * The message and every field are escaped (src/log-escape.ts): one call logs exactly one line, and
 * no text from the network or D-Bus can break, reorder or hide part of it.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const journald = opts.journald ?? Boolean(process.env['JOURNAL_STREAM']);
  const known = LEVELS.indexOf(opts.level as Level);
  const threshold = known >= 0 ? known : LEVELS.indexOf('info');
  const write = journald
    ? (level: Level, message: string, record: Record<string, unknown>) =>
        writeLogLine(`<${JOURNAL_PRIORITY[level]}>${escapeForLog(message)}${fieldsOf(record)}`)
    : (level: Level, message: string, record: Record<string, unknown>) =>
        writeLogLine(`${new Date().toISOString()} ${level.padEnd(5)} ${escapeForLog(message)}${fieldsOf(record)}`);
  return new LineLogger({ threshold, write }, {});
}
