import type { Config } from '../config/schema.ts';

/** The peer link's deadlines in milliseconds, derived once from the configuration (seconds). */
export interface LinkTimings {
  /** Pause between a received `alive` and the client's next `ping`. */
  readonly keepaliveIntervalMs: number;
  /** How long a `ping` (or the first `Hello`) may wait for its `alive`. */
  readonly keepaliveTimeoutMs: number;
  /** TCP connect plus TLS handshake, and on the server also handshake until the first line. */
  readonly handshakeTimeoutMs: number;
  /** Server side: an established connection that sends nothing for this long is closed. */
  readonly idleTimeoutMs: number;
}

/** The configuration keys the link timings come from. */
export type LinkTimingConfig = Pick<Config, 'keepalive_interval' | 'keepalive_timeout' | 'handshake_timeout' | 'idle_timeout'>;

export function linkTimings(config: LinkTimingConfig): LinkTimings {
  return {
    keepaliveIntervalMs: Math.round(config.keepalive_interval * 1000),
    keepaliveTimeoutMs: Math.round(config.keepalive_timeout * 1000),
    handshakeTimeoutMs: Math.round(config.handshake_timeout * 1000),
    idleTimeoutMs: Math.round(config.idle_timeout * 1000),
  };
}

/**
 * The client's dead-peer detection window: the longest time between the last `alive` received and
 * LINK_DOWN for a peer that silently stops answering (next ping after the interval, then the timeout).
 */
export function detectionWindowMs(t: LinkTimings): number {
  return t.keepaliveIntervalMs + t.keepaliveTimeoutMs;
}

/** Seconds for log and reason text, e.g. `1.5 s`. */
export function secondsText(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
