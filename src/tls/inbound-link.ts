import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.ts';
import type { ThrottledWarnings } from '../log-throttle.ts';
import { LineFramer, MAX_LINE_BYTES, WORDS, lineOf, printableLine, wordOf } from './line-protocol.ts';
import { secondsText, type LinkTimings } from './link-timings.ts';
import { checkClientPeer, type NameBindingCheck } from './peer-identity.ts';
import { failureReason } from './tls-failure.ts';
import { leafFingerprint } from './leaf-fingerprint.ts';
import { leafNotAfterMs, watchLeafExpiry, type LeafExpiryWatch } from './peer-leaf-expiry.ts';

/**
 * Lines a client may send per second (a burst of this many, refilled at this rate). A peer sends one
 * ping per keepalive_interval (at least 50 ms) and waits for its `alive`; a client past this bound is
 * flooding, and is closed.
 */
const MAX_LINES_PER_SECOND = 64;

/**
 * Bytes of `alive` replies that may wait in this process for a client to read them. A peer reads
 * each reply before its next ping, so its replies never wait here; a client that pings (within the
 * line rate) and never reads fills the kernel's socket buffers first, then this, and is closed
 * before its unread replies can pile up in memory.
 */
export const MAX_UNREAD_REPLY_BYTES = 4096;

/** What the responder hands one authenticated connection. */
export interface InboundLinkOptions {
  readonly socket: TLSSocket;
  readonly connectionId: string;
  readonly timings: LinkTimings;
  readonly log: Logger;
  /** The trust store's name binding: an attested CA vouches only for the names it was attested for. */
  readonly nameBinding?: NameBindingCheck;
  /** For warnings a client can cause before it is a link (refused, silent): rate limited. */
  readonly noisy: ThrottledWarnings;
  /** The client completed Hello → alive. */
  readonly onUp: (peer: string) => void;
  /** A connection that was up has ended (called once, only after onUp). */
  readonly onDown: (peer: string, reason: string) => void;
  /** The connection ended before it came up: its certificate refused, or closed before Hello (called once, never with onUp). */
  readonly onFailed: (peer: string, reason: string) => void;
  /** The connection is gone (up or not): the responder forgets it. */
  readonly onClosed: () => void;
}

type Phase = 'awaiting-hello' | 'up' | 'closed';

/**
 * The server side of one peer link after a successful mutual-TLS handshake: checks the client's
 * EKU and name, answers `Hello` and `ping` with `alive`, and closes on anything else, on a line over
 * the limit, on silence (no Hello within handshake_timeout, then no ping within idle_timeout; bytes
 * without a newline do not count), on a flood of lines, on replies it does not read, or when the
 * client's leaf expires (however long its pings keep coming). Errors stay on this socket.
 */
export class InboundLink {
  readonly connectionId: string;
  readonly peer: string;
  #socket: TLSSocket;
  #opts: InboundLinkOptions;
  #framer = new LineFramer();
  #phase: Phase = 'awaiting-hello';
  #reason: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Closes the link when the client's leaf ends, however long the pings keep it up. */
  #expiry: LeafExpiryWatch | undefined;
  #lineBudget = MAX_LINES_PER_SECOND;
  #budgetAt = performance.now();

  constructor(opts: InboundLinkOptions) {
    this.#opts = opts;
    this.#socket = opts.socket;
    this.connectionId = opts.connectionId;
    const socket = opts.socket;
    socket.on('error', (err) => this.#note(`socket error: ${failureReason(err)}`));
    socket.on('end', () => this.#note('peer closed the connection'));
    socket.on('close', () => this.#closed());

    const identity = checkClientPeer(socket.getPeerCertificate(), opts.nameBinding);
    if (identity instanceof Error) {
      this.peer = remoteOf(socket);
      this.#phase = 'closed';
      opts.noisy.warn(`inbound connection refused: ${identity.message}`, {
        peer: this.peer,
        event: 'INBOUND_REFUSED',
        code: identity.code,
        reason: identity.message,
      });
      opts.onFailed(this.peer, `refused: ${identity.message}`);
      socket.destroy();
      return;
    }
    this.peer = identity.name;
    this.#expiry = this.#watchExpiry(socket);
    this.#arm(opts.timings.handshakeTimeoutMs, `no Hello within ${secondsText(opts.timings.handshakeTimeoutMs)} of the handshake`);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  /** SHA-256 fingerprint (lowercase hex) of the client's leaf, once the handshake has completed. */
  get leafFingerprint(): string | undefined {
    return leafFingerprint(this.#socket);
  }

  /** True once the client completed Hello → alive and until the connection ends. */
  get isUp(): boolean {
    return this.#phase === 'up';
  }

  /**
   * Checks the client certificate of an established link again (after a trust change) and closes
   * the link when `refusal` gives a reason: its CA, or the CA's binding to its name, was revoked.
   */
  recheck(refusal: (leafDer: Uint8Array, name: string) => string | undefined): void {
    if (this.#phase === 'closed') return;
    const why = refusal(new Uint8Array(this.#socket.getPeerCertificate().raw), this.peer);
    if (why === undefined) return;
    this.#opts.log.warn(`closing the inbound link of ${this.peer}: ${why}`, { peer: this.peer, event: 'INBOUND_REVOKED', reason: why });
    this.close(`trust revoked: ${why}`);
  }

  /** Closes this connection now; `reason` is what INBOUND_DOWN and the log will say. */
  close(reason: string): void {
    this.#note(reason);
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    const { lines, overflow } = this.#framer.push(chunk);
    for (const line of lines) {
      if (this.#phase === 'closed' || !this.#onLine(line)) return;
    }
    if (overflow) this.close(`line longer than ${MAX_LINE_BYTES} bytes`);
  }

  /** Handles one line; false when it closed the connection. */
  #onLine(line: string): boolean {
    const word = wordOf(line);
    const expected = this.#phase === 'awaiting-hello' ? WORDS.hello : WORDS.ping;
    if (word !== expected) {
      this.close(word ? `unexpected "${word}" (expected ${expected})` : `unknown word "${printableLine(line)}"`);
      return false;
    }
    if (!this.#spendLine()) {
      this.close(`flooding: more than ${MAX_LINES_PER_SECOND} lines per second`);
      return false;
    }
    this.#socket.write(lineOf(WORDS.alive));
    if (this.#socket.writableLength > MAX_UNREAD_REPLY_BYTES) {
      this.close(`not reading: more than ${MAX_UNREAD_REPLY_BYTES} bytes of replies unread`);
      return false;
    }
    if (this.#phase === 'up') {
      this.#timer?.refresh(); // the idle deadline again, from now: nothing to rebuild per ping
    } else {
      const idle = this.#opts.timings.idleTimeoutMs;
      this.#arm(idle, `idle: no ping for ${secondsText(idle)}`);
      this.#phase = 'up';
      this.#opts.log.info('inbound link up', { peer: this.peer, event: 'INBOUND_UP', code: this.connectionId });
      this.#opts.onUp(this.peer);
    }
    return true;
  }

  /** Token bucket over received lines; false when the client is over its rate. */
  #spendLine(): boolean {
    const now = performance.now();
    this.#lineBudget = Math.min(MAX_LINES_PER_SECOND, this.#lineBudget + ((now - this.#budgetAt) / 1000) * MAX_LINES_PER_SECOND);
    this.#budgetAt = now;
    if (this.#lineBudget < 1) return false;
    this.#lineBudget -= 1;
    return true;
  }

  /** Closes the link when the client's leaf ends (checkClientPeer has refused a leaf without a readable end). */
  #watchExpiry(socket: TLSSocket): LeafExpiryWatch | undefined {
    const notAfterMs = leafNotAfterMs(socket.getPeerCertificate());
    if (notAfterMs === undefined) return undefined;
    return watchLeafExpiry({
      notAfterMs,
      onExpired: () => {
        const at = new Date(notAfterMs).toISOString();
        const why = `its client certificate expired at ${at}`;
        this.#opts.log.warn(`closing the inbound link of ${this.peer}: ${why}`, { peer: this.peer, event: 'PEER_LEAF_EXPIRED', code: this.connectionId, reason: why });
        this.close(`peer leaf expired at ${at}`);
      },
    });
  }

  /** Keeps the first reason given: it is the cause, later ones are consequences. */
  #note(reason: string): void {
    this.#reason ??= reason;
  }

  /**
   * (Re)starts the one deadline of this connection. Only a complete, valid line moves it: bytes
   * dribbled without a newline do not keep a connection alive.
   */
  #arm(ms: number, reason: string): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.close(reason), ms);
  }

  #closed(): void {
    const was = this.#phase;
    this.#phase = 'closed';
    clearTimeout(this.#timer);
    this.#expiry?.stop();
    const reason = this.#reason ?? 'connection closed';
    if (was === 'up') {
      this.#opts.log.warn(`inbound link down: ${reason}`, { peer: this.peer, event: 'INBOUND_DOWN', code: this.connectionId, reason });
      this.#opts.onDown(this.peer, reason);
    } else if (was === 'awaiting-hello') {
      this.#opts.noisy.warn(`inbound connection closed before Hello: ${reason}`, {
        peer: this.peer,
        event: 'INBOUND_CLOSED',
        code: this.connectionId,
        reason,
      });
      this.#opts.onFailed(this.peer, `closed before Hello: ${reason}`);
    }
    this.#opts.onClosed();
  }
}

/** `address:port` of the far end, for logs about connections that have no name yet. */
export function remoteOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}
