import type { PeerCertificate } from 'node:tls';

/**
 * The longest the expiry watch sleeps on the monotonic clock before it reads the wall clock again.
 * A leaf's end is a wall-clock instant, a timer counts monotonic time: a step of the wall clock (NTP,
 * `date -s`) moves the end against the timer, so a link is closed at most this long after its peer's
 * leaf ended by our clock. It also keeps every delay far below Node's timer limit (2^31 − 1 ms,
 * about 24.8 days; a longer delay fires at once), which a leaf of up to 369 days would pass.
 */
export const LEAF_EXPIRY_RECHECK_MS = 60_000;

/** notAfter of a peer's leaf as epoch milliseconds, undefined when it cannot be read. */
export function leafNotAfterMs(cert: Pick<PeerCertificate, 'valid_to'> | undefined): number | undefined {
  const ms = cert?.valid_to ? Date.parse(cert.valid_to) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/** What the watch follows, and whom it tells. */
export interface LeafExpiryWatchOptions {
  /** notAfter of the peer's leaf (epoch ms, the wall clock's scale). */
  readonly notAfterMs: number;
  /** Called once, as soon as the wall clock is past notAfterMs (never after stop()). */
  readonly onExpired: () => void;
  /** The wall clock; unit tests replace it. */
  readonly wallNow?: () => number;
}

/** A running expiry watch of one link. */
export interface LeafExpiryWatch {
  stop(): void;
}

/**
 * Watches the end of the peer's leaf on an established link: a handshake checked the leaf once, and
 * a link outlives its handshake for as long as the keep-alive runs. The end is judged as OpenSSL
 * judges it at a handshake: expired once our wall clock is past notAfter, with no allowance of its
 * own (the clock-skew allowance is in the leaf: its issuer set notAfter 48 h after the nominal end).
 * Sleeps at most LEAF_EXPIRY_RECHECK_MS at a time and reads the wall clock again on each wake-up.
 */
export function watchLeafExpiry(o: LeafExpiryWatchOptions): LeafExpiryWatch {
  const wallNow = o.wallNow ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = () => {
    // +1: wake up just past notAfter, when the leaf is expired, not at its last valid millisecond.
    const left = o.notAfterMs - wallNow() + 1;
    timer = setTimeout(check, Math.max(0, Math.min(left, LEAF_EXPIRY_RECHECK_MS)));
    timer.unref(); // the link's socket keeps the process running, not this watch
  };
  const check = () => {
    if (stopped) return;
    if (wallNow() > o.notAfterMs) {
      stopped = true;
      o.onExpired();
      return;
    }
    arm();
  };
  arm();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
