import type { Server } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../log.ts';
import { isAllowedHost, isAllowedOrigin } from './loopback-guard.ts';
import { MAX_UNREAD_BYTES, sendWithinBound } from './unread-bound.ts';

/** How the live channel is attached and bounded. */
export interface LiveChannelOptions {
  readonly server: Server;
  readonly path: string;
  /** The first message every new page gets: the whole current view. */
  readonly greeting: () => string;
  readonly log: Logger;
  readonly maxClients?: number;
  /** A page that falls this far behind (bytes queued) is dropped rather than buffered without end. */
  readonly maxBufferedBytes?: number;
}

/** The pages connected to /live: one broadcast reaches them all. */
export interface LiveChannel {
  readonly clients: number;
  broadcast(text: string): void;
  close(): Promise<void>;
}

/**
 * The WebSocket the page listens on. Read-only for pages: what they send is ignored; only pages
 * served by the inspector itself (Host and Origin checked) may connect.
 */
export function startLiveChannel(opts: LiveChannelOptions): LiveChannel {
  const maxClients = opts.maxClients ?? 16;
  const maxBuffered = opts.maxBufferedBytes ?? MAX_UNREAD_BYTES;
  const wss = new WebSocketServer({
    server: opts.server,
    path: opts.path,
    maxPayload: 1024,
    verifyClient: (info: { origin: string; req: { headers: { host?: string } } }) =>
      isAllowedHost(info.req.headers.host) &&
      isAllowedOrigin(info.origin || undefined, info.req.headers.host) &&
      wss.clients.size < maxClients,
  });
  wss.on('error', (err) => opts.log.warn(`inspector live channel: ${err.message}`));
  wss.on('connection', (ws) => {
    ws.on('error', () => ws.terminate());
    ws.on('message', () => {
      /* pages only listen */
    });
    ws.send(opts.greeting());
  });

  return {
    get clients() {
      return wss.clients.size;
    },
    broadcast(text) {
      for (const ws of wss.clients) {
        if (ws.readyState === WebSocket.OPEN) sendWithinBound(ws, text, maxBuffered);
      }
    },
    close() {
      for (const ws of wss.clients) ws.terminate();
      return new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
