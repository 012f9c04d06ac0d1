import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { ResponderEvent } from '../../machines/events.ts';
import type { Logger } from '../log.ts';
import { throttleWarnings, type ThrottledWarnings } from '../log-throttle.ts';
import { ListenerSet, type ReconcileResult } from '../net/listener-set.ts';
import type { CredentialHolder } from '../pki/certificate/index.ts';
import type { TrustChange } from '../pki/trust/index.ts';
import { withTimeout } from '../util/with-timeout.ts';
import { InboundLink, remoteOf } from './inbound-link.ts';
import type { LinkTimings } from './link-timings.ts';
import { linkContextOptions, type LinkContextInput, type TrustedCaSource } from './tls-profile.ts';
import { failureReason, isUnknownIssuer } from './tls-failure.ts';
import { expectedRefusals, type AwaitedAttestation, type ExpectedRefusals } from './expected-refusals.ts';

/** How long close() may take before it is reported as failed. */
const SERVER_OP_TIMEOUT_MS = 5000;

/** Everything the responder needs; `port` 0 picks a free port (tests). */
export interface BmcResponderOptions {
  readonly port: number;
  /** The address listen() binds when it is given none; default `::` (every address). */
  readonly host?: string;
  readonly timings: LinkTimings;
  /** The cap on open connections over every address it listens on. */
  readonly maxConnections: number;
  readonly credentials: CredentialHolder;
  readonly trust: TrustedCaSource;
  readonly log: Logger;
  /**
   * INBOUND_UP / INBOUND_DOWN as links come and go, INBOUND_FAILED for a connection that ended
   * before its link came up (a refused or failed handshake, no Hello), and INBOUND_PEER_LEAF after an
   * INBOUND_UP whose client leaf is another than the last one seen from that name (never after close()).
   */
  readonly onEvent: (event: ResponderEvent) => void;
}

/** Where the responder listens after a listen() call, and the addresses it could not bind this time (logged once per address and reason). */
export interface ResponderListening extends ReconcileResult {
  readonly port: number;
}

/**
 * BmcResponder: the mutual-TLS server of the peer link. A client must present a certificate that
 * chains to a trusted peer CA and carries EKU clientAuth; then it speaks the line protocol. Every
 * connection is bounded (handshake timeout, first-line timeout, idle timeout, line limit, a cap on
 * connections) and a failure on one never touches another. New credentials or trust take effect
 * for new handshakes through setSecureContext, leaving established links as they are, except that
 * a revoked name binding closes that peer's established links. It listens
 * on a set of addresses that listen() may change at any time (one server per address, one port).
 */
export class BmcResponder {
  #opts: BmcResponderOptions;
  #listeners: ListenerSet<Server>;
  #started = false;
  #raw = new Set<Socket>();
  /** `address:port` of each TCP connection, noted on accept (a refused TLS socket forgets it). */
  #remote = new WeakMap<Socket, string>();
  #links = new Set<InboundLink>();
  /** The client leaf (fingerprint) each peer name last presented on a link that came up. */
  #lastLeaf = new Map<string, string>();
  #nextId = 1;
  #stopped = false;
  #unsubscribe: (() => void)[] = [];
  #refreshPending: string[] = [];
  /** What each server's current context was built from. */
  #builtFrom = new WeakMap<Server, LinkContextInput>();
  /** Warnings any client can trigger (refused handshakes, silent connections) are rate limited. */
  #noisy: ThrottledWarnings;
  /** Refusals expected before mutual attestation: info once per client address. */
  #expected: ExpectedRefusals;

  constructor(opts: BmcResponderOptions) {
    this.#opts = opts;
    this.#noisy = throttleWarnings({ log: opts.log });
    this.#expected = expectedRefusals(opts.log);
    this.#listeners = new ListenerSet({
      port: opts.port,
      maxConnections: opts.maxConnections,
      what: 'responder',
      upEvent: 'RESPONDER_UP',
      log: opts.log,
      createServer: () => this.#createServer(),
    });
  }

  /**
   * Listens on exactly `hosts` (default: the `host` option) from now on: binds new addresses and
   * closes vanished ones. Rejects with a reason (no credentials yet, port in use, …) when none of
   * `hosts` could be bound; an empty `hosts` listens nowhere (yet) and is no error.
   */
  async listen(hosts: readonly string[] = [this.#opts.host ?? '::']): Promise<ResponderListening> {
    if (this.#stopped) throw new Error('the responder is stopped');
    this.#start();
    const { failed, listening } = await this.#listeners.reconcile(hosts);
    const first = failed[0];
    if (first && listening.length === 0) throw new Error(first.reason);
    return { port: this.#listeners.port, listening, failed };
  }

  /** Checks the TLS context can be built (credentials exist) and follows credential and trust changes, once. */
  #start(): void {
    if (this.#started) return;
    this.#contextInput();
    this.#started = true;
    const refresh = (why: string) => () => this.refreshSecureContext(why);
    this.#unsubscribe.push(
      this.#opts.credentials.onChange(refresh('credentials changed')),
      this.#opts.trust.onChange(refresh('trust store changed')),
      this.#opts.trust.onChange((change) => this.#recheckLinks(change)),
    );
  }

  #createServer(): Server {
    const { log, timings } = this.#opts;
    const input = this.#contextInput();
    const server = createServer({
      ...linkContextOptions(input),
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: timings.handshakeTimeoutMs,
    });
    this.#builtFrom.set(server, input);
    server.on('connection', (raw: Socket) => this.#onConnection(raw));
    server.on('secureConnection', (socket: TLSSocket) => this.#onSecureConnection(socket));
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      const reason = handshakeFailure(err, socket);
      const peer = this.#remoteOfTls(socket);
      const fields = { peer, event: 'HANDSHAKE_FAILED', reason };
      const awaiting = this.#awaitedAttestation(err, socket);
      if (awaiting) this.#expected.note({ peer: hostOf(peer), message: `handshake refused: ${reason}`, fields, awaiting });
      else this.#noisy.warn(`handshake refused: ${reason}`, fields);
      this.#emit({ type: 'INBOUND_FAILED', peer, reason: `handshake refused: ${reason}` });
      socket.destroy();
    });
    server.on('drop', (info?: { remoteAddress?: string; remotePort?: number }) => {
      this.#noisy.warn(`connection dropped: max_connections (${this.#opts.maxConnections}) reached`, {
        peer: remoteOf(info ?? {}),
        event: 'CONNECTION_DROPPED',
        reason: 'max_connections',
      });
    });
    server.on('error', (err) => log.error(`responder error: ${failureReason(err)}`, { event: 'RESPONDER_ERROR', reason: failureReason(err) }));
    return server;
  }

  /**
   * Rebuilds the TLS context from the current credentials and trust store for handshakes from now
   * on. Calls in the same tick are coalesced; established connections keep running untouched.
   * Each server builds its own context (Node parses the key, the chain and every CA PEM once per
   * server, a few ms with a rack's CAs), one server per turn of the event loop: a D-Bus call or a
   * handshake that arrives meanwhile is served between two of them.
   */
  refreshSecureContext(why: string): void {
    this.#refreshPending.push(why);
    if (this.#refreshPending.length > 1) return;
    setImmediate(() => this.#renewNextServer(0));
  }

  /**
   * Renews the context of the next server whose context is not built from the current input, then
   * queues itself for the turn after; logs once when none is left. The input is read afresh each
   * turn, so a change meanwhile is picked up (a server renewed before it is renewed again).
   */
  #renewNextServer(renewed: number): void {
    const done = () => {
      const reasons = [...new Set(this.#refreshPending)].join(', ');
      this.#refreshPending = [];
      return reasons;
    };
    if (this.#stopped || !this.#started) {
      done();
      return;
    }
    try {
      const input = this.#contextInput();
      // The machine's TRUST_UPDATED / CREDENTIALS_UPDATED follow the store's and the holder's own
      // notices of the same change: the context is rebuilt once per change, not once per notice.
      const stale = this.#listeners.servers.find((server) => {
        const built = this.#builtFrom.get(server);
        return built?.credentials !== input.credentials || built.trustedCas !== input.trustedCas;
      });
      if (!stale) {
        const reasons = done();
        if (renewed > 0) this.#opts.log.info(`responder TLS context renewed (${reasons})`, { event: 'CONTEXT_UPDATED', reason: reasons });
        return;
      }
      stale.setSecureContext(linkContextOptions(input));
      this.#builtFrom.set(stale, input);
    } catch (err) {
      done();
      this.#opts.log.error(`responder kept its previous TLS context: ${failureReason(err)}`, {
        event: 'CONTEXT_UPDATE_FAILED',
        reason: failureReason(err),
      });
      return;
    }
    setImmediate(() => this.#renewNextServer(renewed + 1));
  }

  /**
   * A revocation (a failed re-attestation) closes the established links of the names it revoked
   * whose client certificate no trusted CA vouches for now. Other trust changes leave established
   * links alone: they take effect for new handshakes.
   */
  #recheckLinks(change: TrustChange): void {
    const refusal = this.#opts.trust.establishedLinkRefusal?.bind(this.#opts.trust);
    if (!refusal || this.#stopped || !change.revoked?.length) return;
    const revoked = new Set(change.revoked);
    for (const link of [...this.#links]) if (revoked.has(link.peer)) link.recheck(refusal);
  }

  /** Open TCP connections, handshaking or established. */
  get connectionCount(): number {
    return this.#raw.size;
  }

  /** Links that completed Hello → alive and are still open. */
  get peers(): readonly string[] {
    return [...this.#links].filter((l) => l.isUp).map((l) => l.peer);
  }

  /** Stops listening and closes every connection at once; no event is sent after this. */
  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
    const closed = this.#listeners.close();
    for (const link of this.#links) link.close('responder stopped');
    for (const raw of this.#raw) raw.destroy();
    await withTimeout(closed, SERVER_OP_TIMEOUT_MS, 'closing the responder').catch((err: unknown) =>
      this.#opts.log.warn(`responder close: ${failureReason(err)}`, { event: 'RESPONDER_DOWN' }),
    );
    this.#noisy.close();
    this.#opts.log.info('responder stopped', { event: 'RESPONDER_DOWN' });
  }

  /** What a new context is built from now: the server credentials and the CA list (both replaced, never mutated, on a change). */
  #contextInput(): LinkContextInput {
    const credentials = this.#opts.credentials.current()?.server;
    if (!credentials) throw new Error('no server certificate has been issued yet');
    return { credentials, trustedCas: this.#opts.trust.caPems() };
  }

  #onConnection(raw: Socket): void {
    if (this.#stopped) {
      raw.destroy();
      return;
    }
    this.#raw.add(raw);
    this.#remote.set(raw, remoteOf(raw));
    raw.on('close', () => this.#raw.delete(raw));
    raw.on('error', () => undefined); // reported through the TLS socket; never reaches the process
    raw.setKeepAlive(true, this.#opts.timings.keepaliveIntervalMs);
    raw.setNoDelay(true);
  }

  #onSecureConnection(socket: TLSSocket): void {
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    const connectionId = `in-${this.#nextId++}`;
    const link: InboundLink = new InboundLink({
      socket,
      connectionId,
      timings: this.#opts.timings,
      log: this.#opts.log,
      noisy: this.#noisy,
      ...(this.#opts.trust.nameBindingRefusal ? { nameBinding: this.#opts.trust.nameBindingRefusal.bind(this.#opts.trust) } : {}),
      onUp: (peer) => {
        this.#emit({ type: 'INBOUND_UP', peer, connectionId });
        this.#noteLeaf(peer, link.leafFingerprint);
      },
      onDown: (peer, reason) => this.#emit({ type: 'INBOUND_DOWN', peer, connectionId, reason }),
      onFailed: (peer, reason) => this.#emit({ type: 'INBOUND_FAILED', peer, reason }),
      onClosed: () => this.#links.delete(link),
    });
    this.#links.add(link);
  }

  /**
   * Whose attestation ends a refusal expected while a rack builds its mesh (undefined for any other
   * refusal): the client closed the handshake (it does not trust us yet: the peer's); or its chain
   * has no trusted issuer while only attestation puts CAs in the trust store (none placed by hand)
   * and none may vouch for the name its certificate claims, when it is still readable (ours: we
   * have not attested that peer yet).
   */
  #awaitedAttestation(err: Error, socket: TLSSocket): AwaitedAttestation | undefined {
    const verify: unknown = socket.authorizationError;
    if (!verify) return (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'by-peer' : undefined;
    const trust = this.#opts.trust;
    if (!isUnknownIssuer(verify) || trust.vouchesForAnyName?.() !== false) return undefined;
    const claimed = claimedDnsName(socket);
    return claimed === undefined || trust.vouchesFor?.(claimed) === false ? 'by-us' : undefined;
  }

  /**
   * Where a TLS socket came from, even after Node destroyed it for a refused client certificate:
   * then only the TCP socket it wrapped (Node's `_parent`) leads back to the address noted on accept.
   */
  #remoteOfTls(socket: TLSSocket): string {
    if (socket.remoteAddress !== undefined) return remoteOf(socket);
    const parent = (socket as unknown as { _parent?: Socket })._parent;
    return (parent && this.#remote.get(parent)) ?? remoteOf(socket);
  }

  /** A leaf other than the one `peer` presented last (a renewal, a new boot) is reported once. */
  #noteLeaf(peer: string, fingerprint: string | undefined): void {
    const last = this.#lastLeaf.get(peer);
    if (fingerprint === undefined || fingerprint === last) return;
    this.#lastLeaf.set(peer, fingerprint);
    if (last !== undefined) this.#opts.log.info(`${peer} presents another leaf on its inbound link`, { peer, event: 'INBOUND_PEER_LEAF' });
    this.#emit({ type: 'INBOUND_PEER_LEAF', name: peer, fingerprint });
  }

  #emit(event: ResponderEvent): void {
    if (!this.#stopped) this.#opts.onEvent(event);
  }
}

/**
 * Why a handshake failed. Node verifies the client's chain itself right after OpenSSL's handshake
 * and then closes the socket without an alert, which surfaces as a bare "socket hang up"; the
 * verification result it stored in `authorizationError` is the real reason.
 */
function handshakeFailure(err: Error, socket: TLSSocket): string {
  const verify: unknown = socket.authorizationError;
  if (typeof verify === 'string' && verify) return `client certificate refused: ${verify}`;
  if (verify instanceof Error) return `client certificate refused: ${failureReason(verify)}`;
  if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') {
    return 'the client closed the connection during the handshake (it may have refused our certificate)';
  }
  return failureReason(err);
}

/** The host part of `address:port` (IPv6 addresses keep their colons). */
function hostOf(peer: string): string {
  const i = peer.lastIndexOf(':');
  return i > 0 ? peer.slice(0, i) : peer;
}

/** The first DNS name the client's (unverified) certificate claims, if it sent one. */
function claimedDnsName(socket: TLSSocket): string | undefined {
  let san = '';
  try {
    san = socket.getPeerCertificate()?.subjectaltname ?? '';
  } catch {
    return undefined;
  }
  return /(?:^|,\s*)DNS:([^,\s]+)/.exec(san)?.[1];
}
