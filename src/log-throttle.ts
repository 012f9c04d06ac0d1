import type { Logger } from './log.ts';

/** Structured fields of a throttled warning; `event` is what lines are counted by. */
export type ThrottledFields = { readonly event: string } & Record<string, unknown>;

/** Warnings an outsider can cause at will (refused handshakes, silent connections), with a cap. */
export interface ThrottledWarnings {
  warn(message: string, fields: ThrottledFields): void;
  /** Logs what is still pending as a summary and stops the timers. */
  close(): void;
}

/** How many lines per event a window lets through. */
export interface ThrottleOptions {
  readonly log: Logger;
  /** Default 10 s. */
  readonly windowMs?: number;
  /** Lines per event and window logged in full; default 20. */
  readonly burst?: number;
}

interface Window {
  logged: number;
  suppressed: number;
  timer: NodeJS.Timeout;
}

/**
 * A hostile client must not be able to fill the journal: per `event`, the first `burst` warnings
 * of a window are logged in full, the rest are counted, and one summary line per window says how
 * many were left out.
 */
export function throttleWarnings(opts: ThrottleOptions): ThrottledWarnings {
  const windowMs = opts.windowMs ?? 10_000;
  const burst = opts.burst ?? 20;
  const windows = new Map<string, Window>();

  const flush = (event: string) => {
    const w = windows.get(event);
    if (!w) return;
    clearTimeout(w.timer);
    windows.delete(event);
    if (w.suppressed > 0) {
      opts.log.warn(`${w.suppressed} more ${event} warnings in the last ${windowMs / 1000} s were not logged (rate limit)`, {
        event,
        reason: 'rate limit',
      });
    }
  };

  return {
    warn(message, fields) {
      let w = windows.get(fields.event);
      if (!w) {
        const timer = setTimeout(() => flush(fields.event), windowMs);
        timer.unref();
        w = { logged: 0, suppressed: 0, timer };
        windows.set(fields.event, w);
      }
      if (w.logged < burst) {
        w.logged++;
        opts.log.warn(message, fields);
      } else {
        w.suppressed++;
      }
    },
    close() {
      for (const event of [...windows.keys()]) flush(event);
    },
  };
}
