import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import type { LinkEvent, LinkTarget } from '../../machines/events.ts';
import type { Logger } from '../log.ts';
import type { ThrottledWarnings } from '../log-throttle.ts';
import type { CredentialHolder } from '../pki/certificate/index.ts';
import { LineFramer, MAX_LINE_BYTES, WORDS, lineOf, printableLine, wordOf } from './line-protocol.ts';
import { secondsText, type LinkTimings } from './link-timings.ts';
import { checkServerPeer } from './peer-identity.ts';
import { linkClientContext, type TrustedCaSource } from './tls-profile.ts';
import { failureReason, isLocalVerificationFailure, isPeerAlert, isUnknownIssuer } from './tls-failure.ts';
import type { ExpectedRefusals } from './expected-refusals.ts';
import { leafFingerprint } from './leaf-fingerprint.ts';
import { leafNotAfterMs, watchLeafExpiry, type LeafExpiryWatch } from './peer-leaf-expiry.ts';

/** Everything one outbound link needs. */
export interface TlsLinkClientOptions {
  readonly target: LinkTarget;
  readonly timings: LinkTimings;
  readonly credentials: CredentialHolder;
  readonly trust: TrustedCaSource;
  readonly log: Logger;
  /**
   * Where the LINK_REJECTED warning goes when given: whoever answers at a peer's address chooses the
   * certificate we refuse, and with it how often, so the daemon rate-limits these lines across links.
   */
  readonly refusals?: ThrottledWarnings;
  /**
   * Where an expected refusal goes when given (info once per peer and kind instead of a warning on
   * every attempt): the peer refused us (it has not attested us yet), or the dial was to a peer no
   * trusted CA may vouch for yet (we have not attested it yet), which could only end refused.
   */
  readonly expected?: ExpectedRefusals;
  /** Receives LINK_UP, then exactly one of LINK_FAILED / LINK_REJECTED / LINK_DOWN (never after close()). */
  readonly onEvent: (event: LinkEvent) => void;
}

type Phase = 'idle' | 'connecting' | 'hello' | 'up' | 'done';

/**
 * TlsLinkClient: one outbound peer link, from connect to its end. It connects with this BMC's client
 * certificate, verifies the server's chain against the trust store and its DNS SAN and EKU against
 * the target and says Hello, all within handshake_timeout; then it pings every keepalive_interval
 * and expects `alive` within keepalive_timeout, until the server's leaf expires. It never retries: the statechart re-invokes it (with backoff) after a failure.
 */
export class TlsLinkClient {
  #opts: TlsLinkClientOptions;
  #phase: Phase = 'idle';
  #socket: TLSSocket | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Ends the link when the server's leaf ends, however long its alives keep coming. */
  #expiry: LeafExpiryWatch | undefined;
  #framer = new LineFramer();
  #awaitingAlive = false;
  #error: unknown;
  /** The attempt ended by one of our deadlines, not by the peer. */
  #timedOut = false;

  /** Every ping's deadline for its `alive`, worded once rather than on each ping. */
  readonly #pingDeadline: { ms: number; reason: string };

  constructor(opts: TlsLinkClientOptions) {
    this.#opts = opts;
    const timeout = opts.timings.keepaliveTimeoutMs;
    this.#pingDeadline = { ms: timeout, reason: `no alive within ${secondsText(timeout)} of ${WORDS.ping}` };
  }

  /** Starts the connection attempt; events arrive asynchronously through onEvent. */
  start(): void {
    if (this.#phase !== 'idle') return;
    this.#phase = 'connecting';
    const { target, timings } = this.#opts;
    const credentials = this.#opts.credentials.current()?.client;
    const unusable = !credentials
      ? 'no client certificate has been issued yet'
      : !target.address || !Number.isInteger(target.port) || target.port < 1 || target.port > 65535
        ? `no usable address for ${target.name}: "${target.address}" port ${target.port}`
        : undefined;
    if (unusable || !credentials) {
      setImmediate(() => this.#finish(unusable ?? 'no client certificate'));
      return;
    }
    let socket: TLSSocket;
    try {
      socket = connect({
        secureContext: linkClientContext({ credentials, trustedCas: this.#opts.trust.caPems() }),
        host: target.address,
        port: target.port,
        // SNI carries host names only (RFC 6066); the identity check below uses target.name either way.
        servername: isIP(target.name) ? undefined : target.name,
        rejectUnauthorized: true,
        checkServerIdentity: (_host, cert) => checkServerPeer(target.name, cert, this.#opts.trust.nameBindingRefusal?.bind(this.#opts.trust)),
      });
    } catch (err) {
      // A broken key or certificate PEM fails while the TLS context is built, before any I/O.
      setImmediate(() => this.#finish(`cannot build the TLS context: ${failureReason(err)}`));
      return;
    }
    this.#socket = socket;
    this.#arm(timings.handshakeTimeoutMs, `no TLS connection within ${secondsText(timings.handshakeTimeoutMs)}`);
    socket.once('connect', () => {
      socket.setKeepAlive(true, timings.keepaliveIntervalMs);
      socket.setNoDelay(true);
    });
    const deadline = performance.now() + timings.handshakeTimeoutMs;
    socket.once('secureConnect', () => {
      this.#phase = 'hello';
      this.#watchExpiry(socket);
      // The whole attempt, Hello → alive included, stays within handshake_timeout.
      this.#send(WORDS.hello, {
        ms: Math.max(0, deadline - performance.now()),
        reason: `no alive to Hello within ${secondsText(timings.handshakeTimeoutMs)} of connecting`,
      });
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      this.#error ??= err;
      this.#finish(failureReason(err));
    });
    socket.on('close', () => this.#finish(this.#phase === 'up' ? 'peer closed the connection' : 'connection closed before the link was up'));
  }

  /** Ends the link at once (actor stopped); no event is sent after this. */
  close(): void {
    this.#phase = 'done';
    this.#clearTimer();
    this.#expiry?.stop();
    this.#socket?.destroy();
  }

  /**
   * Sends a word and arms the deadline for its `alive` (which also bounds the write): by default
   * keepalive_timeout, as for every ping.
   */
  #send(word: typeof WORDS.hello | typeof WORDS.ping, deadline: { ms: number; reason: string } = this.#pingDeadline): void {
    const socket = this.#socket;
    if (!socket || this.#phase === 'done') return;
    this.#awaitingAlive = true;
    this.#arm(deadline.ms, deadline.reason);
    socket.write(lineOf(word));
  }

  #onData(chunk: Buffer): void {
    const { lines, overflow } = this.#framer.push(chunk);
    for (const line of lines) {
      if (this.#phase === 'done') return;
      if (wordOf(line) !== WORDS.alive || !this.#awaitingAlive) {
        this.#finish(`protocol error: unexpected "${printableLine(line)}" from the server`);
        return;
      }
      this.#awaitingAlive = false;
      if (this.#phase === 'hello') {
        this.#phase = 'up';
        this.#opts.log.info('link up', { peer: this.#opts.target.name, event: 'LINK_UP' });
        this.#opts.expected?.clear(this.#opts.target.name);
        const leaf = leafFingerprint(this.#socket);
        this.#opts.onEvent(leaf ? { type: 'LINK_UP', peerLeaf: leaf } : { type: 'LINK_UP' });
      }
      const interval = this.#opts.timings.keepaliveIntervalMs;
      this.#timer = this.#replaceTimer(setTimeout(() => this.#send(WORDS.ping), interval));
    }
    if (overflow) this.#finish(`protocol error: line longer than ${MAX_LINE_BYTES} bytes from the server`);
  }

  /** Ends the attempt or the link once, with the event that fits the phase and the error. */
  #finish(reason: string): void {
    const phase = this.#phase;
    if (phase === 'done' || phase === 'idle') return;
    this.#phase = 'done';
    this.#clearTimer();
    this.#expiry?.stop();
    this.#socket?.destroy();
    const peer = this.#opts.target.name;
    let event: LinkEvent;
    // The peer refused us (it does not trust our CA yet): an alert, or, from a Node responder, the
    // connection reset or closed right after the handshake, before its answer to Hello.
    const closedAfterHandshake = phase === 'hello' && (this.#error === undefined ? !this.#timedOut : (this.#error as NodeJS.ErrnoException).code === 'ECONNRESET');
    const refusedByPeer = phase !== 'up' && !isLocalVerificationFailure(this.#error) && (isPeerAlert(this.#error) || closedAfterHandshake);
    // A peer no trusted CA may vouch for yet (not attested yet, none placed by hand): this dial could
    // only end in our refusal, so its failing before any certificate was judged (not listening yet
    // while its rack comes up, silent) or on a chain no trusted CA issued is expected, not news. A
    // certificate from a trusted CA with the wrong identity (another peer's name, a CA bound to
    // another name, EKU, validity) still warns: something answers for a name it should not.
    const notTrustedYet =
      phase !== 'up' && this.#opts.trust.vouchesFor?.(peer) === false && (isUnknownIssuer(this.#error) || !isLocalVerificationFailure(this.#error));
    if (phase === 'up') {
      event = { type: 'LINK_DOWN', reason };
    } else if (isLocalVerificationFailure(this.#error)) {
      event = { type: 'LINK_REJECTED', reason: `server certificate refused: ${reason}` };
    } else if (isPeerAlert(this.#error)) {
      event = { type: 'LINK_FAILED', reason: `the peer refused the handshake: ${reason}` };
    } else {
      event = { type: 'LINK_FAILED', reason };
    }
    const where = `${this.#opts.target.address}:${this.#opts.target.port}`;
    const line = `${event.type === 'LINK_DOWN' ? 'link down' : 'link attempt failed'} (${where}): ${event.reason}`;
    const fields = { peer, event: event.type, reason: event.reason };
    if ((refusedByPeer || notTrustedYet) && this.#opts.expected) this.#opts.expected.note({ peer, message: line, fields, awaiting: notTrustedYet ? 'by-us' : 'by-peer' });
    else if (event.type === 'LINK_REJECTED' && this.#opts.refusals) this.#opts.refusals.warn(line, fields);
    else this.#opts.log.warn(line, fields);
    this.#opts.onEvent(event);
  }

  /** Ends the link when the server's leaf ends (checkServerPeer has refused a leaf without a readable end). */
  #watchExpiry(socket: TLSSocket): void {
    const notAfterMs = leafNotAfterMs(socket.getPeerCertificate());
    if (notAfterMs === undefined) return;
    this.#expiry = watchLeafExpiry({
      notAfterMs,
      onExpired: () => {
        const peer = this.#opts.target.name;
        const at = new Date(notAfterMs).toISOString();
        const why = `its server certificate expired at ${at}`;
        this.#opts.log.warn(`closing the link to ${peer}: ${why}`, { peer, event: 'PEER_LEAF_EXPIRED', reason: why });
        this.#timedOut = true; // our deadline ended it, not the peer
        this.#finish(`peer leaf expired at ${at}`);
      },
    });
  }

  #arm(ms: number, reason: string): void {
    this.#timer = this.#replaceTimer(
      setTimeout(() => {
        this.#timedOut = true;
        this.#finish(reason);
      }, ms),
    );
  }

  #replaceTimer(next: NodeJS.Timeout): NodeJS.Timeout {
    this.#clearTimer();
    return next;
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
