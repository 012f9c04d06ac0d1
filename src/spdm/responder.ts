import { X509Certificate, verify as nodeVerify } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import type { Logger } from '../log.ts';
import { type HashName, splitSignerAlgorithm } from './algorithms.ts';
import type { MeasurementBlock } from './measurement-block.ts';
import { RESPONDER_MAX_MESSAGE, ResponderSession } from './responder-session.ts';
import { messageToSign, type SpdmSigner } from './signing.ts';
import { throttleWarnings } from '../log-throttle.ts';
import { ListenerSet, type ReconcileResult } from '../net/listener-set.ts';
import { withTimeout } from '../util/with-timeout.ts';
import { isSpdmError, SpdmError } from './spdm-error.ts';
import {
  EMU_SERVER_HELLO,
  EmuCommand,
  encodeEmuPacket,
  encodeFrame,
  encodeTcpFrame,
  type Frame,
  FrameDecoder,
  MESSAGE_TYPE_ERROR_NOT_SUPPORTED,
  MESSAGE_TYPE_ERROR_TOO_LARGE,
  type SpdmTransport,
} from './transport.ts';
import { errorMessage } from '../util/error-message.ts';

/** How one connection ended, for the caller (attestationd reports it on D-Bus). */
export interface SpdmSessionEvent {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** True when signed measurements were served on this connection. */
  readonly completed: boolean;
  readonly reason?: string;
}

/** What a responder serves and where. */
export interface SpdmResponderOptions {
  /** The address to listen on from the start; absent: nowhere until listen() names addresses. */
  readonly host?: string;
  /** 0 picks a free port (the first address bound picks it, the others use the same). */
  readonly port: number;
  /** Connections served at once over all addresses; more are closed at once (default DEFAULT_SPDM_MAX_CONNECTIONS). */
  readonly maxConnections?: number;
  /** Of those, connections from one remote address; more are closed at once (default DEFAULT_SPDM_MAX_CONNECTIONS_PER_ADDRESS). */
  readonly maxConnectionsPerAddress?: number;
  readonly transport: SpdmTransport;
  readonly signer: SpdmSigner;
  /** DER, root first … device leaf last (slot 0); fixed for the responder's life. */
  readonly certificateChain: readonly Uint8Array[];
  /** Read fresh for each GET_MEASUREMENTS. */
  readonly measurements: () => Promise<MeasurementBlock[]>;
  /** MeasurementHashAlgo to select; digest blocks must use it (default SHA_256). */
  readonly measurementHash?: HashName;
  readonly onSession?: (e: SpdmSessionEvent) => void;
  /** Per request and idle deadline of a connection. */
  readonly timeoutMs: number;
  /** The longest a connection lasts from its accept, whatever it sends (default DEFAULT_SPDM_CONNECTION_LIFETIME_MS). */
  readonly lifetimeMs?: number;
  /** Signed responses one connection may get; one more is answered ERROR and closes it (default DEFAULT_SPDM_MAX_SIGNATURES). */
  readonly maxSignatures?: number;
  readonly log: Logger;
}

/** A running responder. */
export interface SpdmResponder {
  /** The port (once an address was bound; `port` of the options until then). */
  readonly port: number;
  /** Listens on exactly `hosts` from now on (new ones bound, vanished ones closed). */
  listen(hosts: readonly string[]): Promise<ReconcileResult>;
  /** Open connections (tests, metrics). */
  readonly connections: number;
  close(): Promise<void>;
}

/** Connections a responder serves at once unless told otherwise: a BMC is attested by a few peers at a time. */
export const DEFAULT_SPDM_MAX_CONNECTIONS = 16;

/**
 * Connections from one address served at once unless told otherwise: a peer attests us over one
 * connection at a time, and one address cannot take every slot by opening new ones as its old
 * ones end.
 */
export const DEFAULT_SPDM_MAX_CONNECTIONS_PER_ADDRESS = 4;

/** How long a connection may last unless told otherwise: a slow client must not hold a slot for good. */
export const DEFAULT_SPDM_CONNECTION_LIFETIME_MS = 60_000;

/**
 * A signer whose key is not the one the slot-0 leaf certifies would serve signatures no requester
 * can verify: refuse to start instead (one probe signature, bounded by the timeout).
 */
async function checkSignerMatchesLeaf(o: SpdmResponderOptions): Promise<void> {
  const leaf = o.certificateChain.at(-1);
  if (!leaf) throw new SpdmError('BAD_CERTIFICATE', 'responder: the certificate chain is empty');
  const { hash } = splitSignerAlgorithm(o.signer.algorithm);
  const probe = messageToSign(hash, 'responder-key check', new Uint8Array(0));
  const signature = await withTimeout(o.signer.sign(probe), o.timeoutMs, 'the identity key probe signature');
  const key = new X509Certificate(leaf).publicKey;
  if (!nodeVerify(hash.node, probe, { key, dsaEncoding: 'ieee-p1363' }, signature)) {
    throw new SpdmError('BAD_CERTIFICATE', 'responder: the identity key is not the key the slot 0 leaf certificate certifies');
  }
}

/**
 * Serves SPDM 1.2 (no sessions) on TCP: each connection gets its own protocol state; a bad
 * message gets an ERROR and only ever affects its own connection.
 */
export async function startSpdmResponder(o: SpdmResponderOptions): Promise<SpdmResponder> {
  const sockets = new Set<Socket>();
  // Validate the identity once, before listening (bad chain/algorithm fails here, not per connection).
  new ResponderSession(o);
  await checkSignerMatchesLeaf(o);
  const maxConnections = o.maxConnections ?? DEFAULT_SPDM_MAX_CONNECTIONS;
  const maxPerAddress = o.maxConnectionsPerAddress ?? DEFAULT_SPDM_MAX_CONNECTIONS_PER_ADDRESS;
  /** Open connections by remote address, over all the addresses listened on. */
  const perAddress = new Map<string, number>();
  // Anyone on the segment can open connections: what a flood makes us log is rate limited.
  const noisy = throttleWarnings({ log: o.log });
  const listeners = new ListenerSet({
    port: o.port,
    maxConnections,
    what: 'SPDM responder',
    upEvent: 'SPDM_LISTENING',
    log: o.log,
    createServer: () => {
      const server = createServer((socket) => {
        const from = socket.remoteAddress ?? '?';
        const open = perAddress.get(from) ?? 0;
        if (open >= maxPerAddress) {
          noisy.warn(`SPDM connection dropped: ${maxPerAddress} connections from ${from} open already`, {
            peer: `${from}:${socket.remotePort ?? 0}`,
            event: 'SPDM_CONNECTION_DROPPED',
            reason: 'per_address',
          });
          socket.destroy();
          return;
        }
        perAddress.set(from, open + 1);
        sockets.add(socket);
        socket.once('close', () => {
          sockets.delete(socket);
          const left = (perAddress.get(from) ?? 1) - 1;
          if (left > 0) perAddress.set(from, left);
          else perAddress.delete(from);
        });
        serveConnection(socket, o);
      });
      server.on('drop', (info?: { remoteAddress?: string; remotePort?: number }) =>
        noisy.warn(`SPDM connection dropped: max_connections (${maxConnections}) reached`, {
          peer: `${info?.remoteAddress ?? '?'}:${info?.remotePort ?? 0}`,
          event: 'SPDM_CONNECTION_DROPPED',
          reason: 'max_connections',
        }),
      );
      server.on('error', (err) => o.log.error(`SPDM responder error: ${err.message}`, { event: 'SPDM_RESPONDER_ERROR' }));
      return server;
    },
  });
  if (o.host !== undefined) {
    const { failed } = await listeners.reconcile([o.host]);
    if (failed[0]) {
      noisy.close();
      throw new SpdmError('CONNECTION', failed[0].reason);
    }
  }
  o.log.info('SPDM responder ready', { port: listeners.port, transport: o.transport, algorithm: o.signer.algorithm, maxConnections, maxPerAddress });
  return {
    get port() {
      return listeners.port;
    },
    get connections() {
      return sockets.size;
    },
    listen: (hosts) => listeners.reconcile(hosts),
    async close() {
      const closed = listeners.close();
      for (const s of sockets) s.destroy();
      await closed;
      noisy.close();
    },
  };
}

/** SPDM has one request outstanding at a time; a peer that queues more than this is cut off. */
const MAX_IN_FLIGHT = 32;

function serveConnection(socket: Socket, o: SpdmResponderOptions): void {
  const remoteAddress = socket.remoteAddress ?? '?';
  const remotePort = socket.remotePort ?? 0;
  const peer = `${remoteAddress}:${remotePort}`;
  const session = new ResponderSession(o);
  const decoder = new FrameDecoder(o.transport, RESPONDER_MAX_MESSAGE);
  let completed = false;
  let reason: string | undefined;
  let queue: Promise<void> = Promise.resolve();
  let inFlight = 0;
  /** Set once the connection is being closed: what still arrives is not read. */
  let closing = false;
  socket.setNoDelay(true);
  socket.setTimeout(o.timeoutMs);
  socket.on('timeout', () => {
    reason ??= `idle for ${o.timeoutMs} ms`;
    socket.destroy();
  });
  // The idle deadline restarts with every byte: a client dribbling bytes would keep its slot
  // (and max_connections of them every slot) for ever without this one, which nothing restarts.
  const lifetimeMs = o.lifetimeMs ?? DEFAULT_SPDM_CONNECTION_LIFETIME_MS;
  const lifetime = setTimeout(() => {
    reason = `open for ${lifetimeMs} ms, the longest a connection may last`;
    socket.destroy();
  }, lifetimeMs);
  socket.on('error', (err) => {
    reason ??= `connection error: ${err.message}`;
  });
  socket.on('close', () => {
    clearTimeout(lifetime);
    if (decoder.pending > 0) reason ??= 'connection closed in the middle of a message (truncated)';
    if (!completed) reason ??= 'closed before signed measurements were served';
    o.log.info('SPDM responder connection closed', { peer, completed, reason: completed ? undefined : reason });
    o.onSession?.({ remoteAddress, remotePort, completed, ...(completed ? {} : { reason }) });
  });

  const send = (bytes: Uint8Array) => {
    if (!closing && !socket.destroyed) socket.write(bytes);
  };

  const handleFrame = async (f: Frame): Promise<void> => {
    if (closing) return;
    if (f.kind === 'binding') {
      reason = `DSP0287 message type 0x${f.messageType.toString(16)} is not served`;
      if (o.transport === 'tcp') send(encodeTcpFrame(new Uint8Array(0), MESSAGE_TYPE_ERROR_NOT_SUPPORTED));
      return;
    }
    if (f.kind === 'emu') {
      switch (f.command) {
        case EmuCommand.TEST:
          send(encodeEmuPacket(EmuCommand.TEST, EMU_SERVER_HELLO));
          return;
        case EmuCommand.CONTINUE:
        case EmuCommand.SHUTDOWN:
          closing = true;
          socket.end(encodeEmuPacket(f.command, new Uint8Array(0)));
          return;
        default:
          send(encodeEmuPacket(EmuCommand.UNKNOWN, new Uint8Array(0)));
          return;
      }
    }
    const started = Date.now();
    // The signer (a token) or the measurement source may hang: a request gets timeoutMs, then the
    // connection goes. The idle deadline does not run meanwhile.
    socket.setTimeout(0);
    const reply = await withTimeout(session.handle(f.message), o.timeoutMs, `SPDM request 0x${(f.message[1] ?? 0).toString(16)}`);
    socket.setTimeout(o.timeoutMs);
    if (reply.refused) {
      reason = reply.refused;
      o.log.warn('SPDM request refused', { peer, reason: reply.refused });
    } else if (o.log.isDebugEnabled()) {
      o.log.debug('SPDM request answered', { peer, code: f.message[1], ms: Date.now() - started });
    }
    if (reply.signedMeasurements) {
      completed = true;
      reason = undefined;
    }
    if (reply.closeConnection) {
      o.log.warn('SPDM requester used up its signatures, closing the connection', { peer, reason: reply.refused });
      if (!socket.destroyed) socket.end(encodeFrame(o.transport, reply.response));
      closing = true;
      return;
    }
    send(encodeFrame(o.transport, reply.response));
  };

  socket.on('data', (chunk: Buffer) => {
    if (closing) return;
    let frames: Frame[];
    // Decoding stops one frame past what may still be queued: a chunk full of frames costs at most
    // that many before the connection is closed, however many it holds.
    const room = MAX_IN_FLIGHT - inFlight;
    try {
      frames = decoder.push(chunk, room + 1);
    } catch (err) {
      reason = isSpdmError(err) ? err.message : String(err);
      o.log.warn('SPDM framing error, closing the connection', { peer, reason });
      closing = true;
      if (o.transport === 'tcp') socket.end(encodeTcpFrame(new Uint8Array(0), MESSAGE_TYPE_ERROR_TOO_LARGE));
      else socket.destroy();
      return;
    }
    if (frames.length > room) {
      reason = `more than ${MAX_IN_FLIGHT} requests sent without waiting for their responses`;
      o.log.warn('SPDM requester floods the responder, closing the connection', { peer, reason });
      socket.destroy();
      return;
    }
    inFlight += frames.length;
    for (const f of frames) {
      queue = queue
        .then(() => handleFrame(f))
        .catch((err: unknown) => {
          reason = errorMessage(err);
          o.log.warn('SPDM request failed, closing the connection', { peer, reason });
          socket.destroy();
        })
        .finally(() => {
          inFlight -= 1;
        });
    }
  });
}
