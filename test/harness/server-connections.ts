import type { Server, Socket } from 'node:net';
import { withTimeout } from '../../src/util/with-timeout.ts';

/** How long closing a test's server may take once its connections are destroyed: a net, not a measurement. */
const CLOSE_DEADLINE_MS = 15_000;

/**
 * Follows the connections `server` accepts (plain, TLS or HTTP, CONNECT tunnels included) and
 * returns its close(): every connection still open is destroyed first, so that closing never waits
 * on a client that keeps one open (server.close() alone waits for them all), and the close has a
 * deadline that names `what`. Call it before the server listens.
 */
export function closerOf(server: Server, what: string): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return () => {
    for (const s of sockets) s.destroy();
    // close() reports ERR_SERVER_NOT_RUNNING for a server that never listened or is closed already: closed either way.
    return withTimeout(new Promise<void>((resolve) => server.close(() => resolve())), CLOSE_DEADLINE_MS, `closing ${what}`);
  };
}
