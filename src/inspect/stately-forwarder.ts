import type { InspectionEvent } from 'xstate';
import WebSocket from 'ws';
import type { Logger } from '../log.ts';
import { toStatelyMessage } from './stately-messages.ts';
import { MAX_UNREAD_BYTES, sendWithinBound } from './unread-bound.ts';
import { errorMessage } from '../util/error-message.ts';

/**
 * The largest message the forwarder accepts from the endpoint (it ignores them all, but a relay
 * sends it other clients' messages and replays its recent ones, this stream's included): far above
 * the largest message of the stream, far below ws's default of 100 MiB. A larger one closes the
 * connection (status 1009), which is then retried like any lost connection.
 */
export const MAX_INCOMING_BYTES = 256 * 1024;

/** Where and how to forward the inspection stream to a Stately-compatible WebSocket endpoint. */
export interface StatelyForwarderOptions {
  /** ws:// or wss:// URL of the endpoint (e.g. the relay of `@statelyai/inspect/server`). */
  readonly url: string;
  readonly log: Logger;
  /** Messages kept while disconnected; the oldest go first. */
  readonly bufferLimit?: number;
  /** Bytes the endpoint may leave unread while connected before its connection is ended; default MAX_UNREAD_BYTES. */
  readonly maxUnreadBytes?: number;
  readonly connectTimeoutMs?: number;
  /** Reconnection delay bounds; doubled after each failure. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

/** A running forwarder: `observe` is an XState inspect callback; `close` stops reconnecting. */
export interface StatelyForwarder {
  observe(ev: InspectionEvent): void;
  close(): Promise<void>;
}

/** The URL without user:password, for logs. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/**
 * Forwards the inspection stream to a Stately-compatible endpoint with the protocol of
 * `@statelyai/inspect`'s `createWebSocketInspector`, implemented over `ws` (no runtime dependency
 * on @statelyai/inspect). Messages are converted off the hot path, sanitised, buffered (bounded)
 * while disconnected, and the connection is retried with backoff. An endpoint that stops reading
 * has its connection ended once MAX_UNREAD_BYTES wait for it, and is then retried like a lost one.
 */
export function startStatelyForwarder(opts: StatelyForwarderOptions): StatelyForwarder {
  const bufferLimit = opts.bufferLimit ?? 500;
  const maxUnread = opts.maxUnreadBytes ?? MAX_UNREAD_BYTES;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  const retryMin = opts.retryMinMs ?? 1000;
  const retryMax = opts.retryMaxMs ?? 30_000;
  const where = displayUrl(opts.url);
  const queue: InspectionEvent[] = [];
  const buffer: string[] = [];
  let dropped = 0;
  let socket: WebSocket | undefined;
  let open = false;
  /** The connection was ended because the endpoint stopped reading; its 'close' says so. */
  let stalled = false;
  let closed = false;
  let retryMs = retryMin;
  let retryTimer: NodeJS.Timeout | undefined;
  let flushScheduled = false;
  let everConnected = false;

  const send = (text: string) => {
    if (open && socket) {
      if (sendWithinBound(socket, text, maxUnread)) return;
      // Ended: what follows is buffered as while disconnected, until the connection is back.
      open = false;
      stalled = true;
    }
    buffer.push(text);
    if (buffer.length > bufferLimit) {
      buffer.shift();
      dropped++;
    }
  };

  const flush = () => {
    flushScheduled = false;
    const now = Date.now();
    for (const ev of queue.splice(0)) {
      try {
        const msg = toStatelyMessage(ev, now);
        if (msg) send(JSON.stringify(msg));
      } catch (err) {
        opts.log.debug(`stately: cannot convert ${ev.type}: ${errorMessage(err)}`);
      }
    }
  };

  const connect = () => {
    if (closed) return;
    const ws = new WebSocket(opts.url, { handshakeTimeout: connectTimeoutMs, maxPayload: MAX_INCOMING_BYTES });
    socket = ws;
    ws.on('open', () => {
      open = true;
      retryMs = retryMin;
      if (!everConnected) opts.log.info(`forwarding inspection to ${where}`);
      else opts.log.info(`reconnected to ${where}`);
      everConnected = true;
      if (dropped) opts.log.warn(`stately: ${dropped} inspection messages dropped while disconnected`, { code: 'STATELY_DROPPED' });
      dropped = 0;
      for (const text of buffer.splice(0)) send(text);
    });
    ws.on('message', () => {
      /* the endpoint relays other clients' messages; nothing for us */
    });
    ws.on('error', (err) => {
      opts.log.debug(`stately: ${where}: ${err.message}`);
    });
    ws.on('close', () => {
      const wasOpen = open;
      const wasStalled = stalled;
      open = false;
      stalled = false;
      socket = undefined;
      if (closed) return;
      if (wasStalled) {
        opts.log.warn(`${where} stopped reading (over ${maxUnread} bytes unsent): dropped the connection and what it had not read; retrying`, {
          code: 'STATELY_DISCONNECTED',
        });
      } else if (wasOpen) opts.log.warn(`lost the connection to ${where}; retrying`, { code: 'STATELY_DISCONNECTED' });
      else if (retryMs === retryMin) opts.log.warn(`cannot reach ${where}; retrying every ${retryMax / 1000} s at most`, { code: 'STATELY_UNREACHABLE' });
      retryTimer = setTimeout(connect, retryMs);
      retryTimer.unref();
      retryMs = Math.min(retryMs * 2, retryMax);
    });
  };
  connect();

  return {
    observe(ev) {
      if (closed || (ev.type !== '@xstate.actor' && ev.type !== '@xstate.event' && ev.type !== '@xstate.snapshot')) return;
      queue.push(ev);
      if (queue.length > bufferLimit) queue.shift();
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      flush();
      const ws = socket;
      if (!ws || ws.readyState === WebSocket.CLOSED) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000);
        ws.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(1001, 'daemon stopping');
      });
    },
  };
}
