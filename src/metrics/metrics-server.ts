import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import { errorMessage } from '../util/error-message.ts';

/** Whether the daemon is healthy, and why not. */
export type Health = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** What the server serves. */
export interface MetricsServerOptions {
  readonly port: number;
  readonly registry: Registry;
  /** 200 on /healthz when ok: the bus name is owned and the statechart is not stopped. */
  readonly health: () => Health;
  readonly log: Logger;
}

/** A listening metrics server. */
export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Prometheus text on http://127.0.0.1:<port>/metrics and a health check on /healthz. Loopback
 * only (reach it from elsewhere through an SSH tunnel or a local scraper); GET and HEAD only.
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const h = opts.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
      res.end(h.ok ? 'ok\n' : `unhealthy: ${h.reason}\n`);
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType, 'cache-control': 'no-store' });
          res.end(text);
        },
        (err: unknown) => {
          opts.log.warn(`collecting metrics: ${errorMessage(err)}`, { code: 'METRICS_FAILED' });
          res.writeHead(500, { 'content-type': 'text/plain' }).end('cannot collect metrics\n');
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /metrics or /healthz\n');
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'EADDRINUSE' ? `metrics_port ${opts.port} is already in use on 127.0.0.1` : `metrics server: ${err.message}`));
    server.once('error', failed);
    server.listen(opts.port, '127.0.0.1', () => {
      server.off('error', failed);
      resolve();
    });
  });
  // Once listening, an error is logged, never thrown: it must not end the daemon. A failed accept
  // (EMFILE, ENOBUFS, …) does not get here: Node retries it by itself (docs/operations.md, "Metrics and health").
  server.on('error', (err) => opts.log.warn(`metrics server: ${err.message}`, { code: 'METRICS_FAILED' }));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
