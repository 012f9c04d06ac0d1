/**
 * The self-hosted live inspector (issue 5): loaded only when `inspect_port` is set, through a
 * dynamic import in src/inspector-part.ts, and run by the root machine's `inspector` actor
 * (src/actors/inspector.actor.ts); nothing else in src/ imports this directory.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { InspectionEvent } from 'xstate';
import type { Logger } from '../log.ts';
import { withTimeout } from '../util/with-timeout.ts';
import { daemonSummary } from './daemon-summary.ts';
import { inspectorPage, type PageChart } from './inspector-page.ts';
import { InspectionStore } from './inspection-store.ts';
import { startLiveChannel } from './live-channel.ts';
import { liveClientSource } from './live-client.ts';
import { isAllowedHost } from './loopback-guard.ts';
import { PAGE_STYLE } from './page-style.ts';
import { daemonCharts } from './statechart-docs.ts';
import { layoutStatecharts } from './statechart-layout.ts';
import { startStatelyForwarder, type StatelyForwarder } from './stately-forwarder.ts';
import { errorMessage } from '../util/error-message.ts';

/** How the daemon starts the inspector (from `inspect_port` and `stately_inspector_url`). */
export interface InspectorOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one (tests). */
  port: number;
  log: Logger;
  /** Also forward the stream to this Stately-compatible WebSocket endpoint (config.stately_inspector_url). */
  statelyUrl?: string;
  /** Event-log entries kept (default 200). */
  logLimit?: number;
  /** Deadline of the charts' layout on its thread (default 20 s); past it the page shows the states without the pictures. */
  layoutTimeoutMs?: number;
}

/** A listening inspector: feed `observer` the actor system's inspection events (the `inspector` actor does). */
export interface RunningInspector {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  /** XState's inspect callback; never throws. */
  observer: (ev: InspectionEvent) => void;
  close(): Promise<void>;
}

const LISTEN_TIMEOUT_MS = 5000;
const CLOSE_TIMEOUT_MS = 3000;
/** elkjs takes 0.3–1.5 s (its thread's start included) on a loaded 2-core machine; far beyond that something is wrong. */
const LAYOUT_TIMEOUT_MS = 20_000;
/** Changes are pushed at most this often: a burst of events becomes one message. */
const PUSH_INTERVAL_MS = 25;

const SCRIPT_PATH = '/inspector.js';
const STYLE_PATH = '/inspector.css';
const LIVE_PATH = '/live';

/** Everything from the daemon itself, nothing inline, nothing from elsewhere; never framed, never cached. */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/**
 * Starts the inspector on 127.0.0.1:`port`: the page (statecharts with the active states lit,
 * contexts, event log), its script and stylesheet, a JSON view, and the live WebSocket. The
 * charts are laid out on the first page request, not at start, so start-up pays nothing for them,
 * and on a thread of their own, so the daemon's event loop never waits for elkjs.
 */
export async function startInspector(opts: InspectorOptions): Promise<RunningInspector> {
  const { log } = opts;
  const charts = daemonCharts();
  const graphs = new Map([
    [charts.root.graph.machineId, charts.root.graph],
    [charts.peer.graph.machineId, charts.peer.graph],
  ]);
  const store = new InspectionStore({ graphs, logLimit: opts.logLimit ?? 200, summaryOf: daemonSummary });

  const stopLayout = new AbortController();
  const layoutTimeoutMs = opts.layoutTimeoutMs ?? LAYOUT_TIMEOUT_MS;
  const withoutPictures = new Map<string, PageChart>([
    [charts.root.graph.machineId, { title: charts.root.title }],
    [charts.peer.graph.machineId, { title: charts.peer.title }],
  ]);
  /** Kept once laid out: the machines do not change while the daemon runs. */
  let laidOut: Map<string, PageChart> | undefined;
  let laying: Promise<Map<string, PageChart>> | undefined;

  /** Lays the charts out on their thread; never rejects: without a layout the page shows the states without the pictures. */
  const layOut = async (): Promise<Map<string, PageChart>> => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    log.debug('inspector: starting the layout thread');
    try {
      const layouts = await layoutStatecharts([charts.root.graph, charts.peer.graph], {
        timeoutMs: layoutTimeoutMs,
        signal: stopLayout.signal,
        onComputing: () => log.debug(`inspector: elkjs loaded on the layout thread in ${elapsed()} ms, laying out the statecharts`),
      });
      const byMachine = new Map(layouts.map((l) => [l.machineId, l]));
      laidOut = new Map(
        [...withoutPictures].map(([id, chart]) => {
          const layout = byMachine.get(id);
          return [id, layout ? { ...chart, layout } : chart];
        }),
      );
      log.debug(`inspector: statecharts laid out in ${elapsed()} ms`);
      return laidOut;
    } catch (err) {
      if (!stopLayout.signal.aborted) {
        const reason = errorMessage(err);
        log.error(`inspector cannot lay out the statecharts: ${reason}; the page shows the states without the pictures`);
      }
      return withoutPictures;
    }
  };
  /** The page's charts: laid out on the first page request; one layout at a time; a failed one is retried by the next request. */
  const pageCharts = (): Promise<Map<string, PageChart>> => {
    if (laidOut) return Promise.resolve(laidOut);
    if (!laying) {
      const current = layOut();
      laying = current;
      void current.finally(() => {
        if (laying === current) laying = undefined;
      });
    }
    return laying;
  };

  const server = createServer();
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;

  const channel = startLiveChannel({
    server,
    path: LIVE_PATH,
    log,
    greeting: () => JSON.stringify({ kind: 'view', view: store.view() }),
  });

  const send = (res: ServerResponse, status: number, type: string, body: string, head: boolean) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(head ? undefined : body);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const head = req.method === 'HEAD';
    if (!isAllowedHost(req.headers.host)) {
      send(res, 403, 'text/plain; charset=utf-8', 'inspector: requests must be addressed to 127.0.0.1 or localhost\n', head);
      return;
    }
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'inspector: read-only\n', head);
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/':
      case '/index.html':
        pageCharts()
          .then((pc) =>
            inspectorPage({ charts: pc, rootMachineId: charts.root.graph.machineId, view: store.view(), scriptPath: SCRIPT_PATH, stylePath: STYLE_PATH }),
          )
          .then(
            (html) => send(res, 200, 'text/html; charset=utf-8', html, head),
            (err: unknown) => {
              log.error(`inspector cannot render the page: ${errorMessage(err)}`);
              send(res, 500, 'text/plain; charset=utf-8', 'inspector: cannot render the page (see the daemon log)\n', head);
            },
          );
        return;
      case SCRIPT_PATH:
        send(res, 200, 'text/javascript; charset=utf-8', liveClientSource(), head);
        return;
      case STYLE_PATH:
        send(res, 200, 'text/css; charset=utf-8', PAGE_STYLE, head);
        return;
      case '/view.json':
        send(res, 200, 'application/json', `${JSON.stringify(store.view(), null, 2)}\n`, head);
        return;
      default:
        send(res, 404, 'text/plain; charset=utf-8', 'inspector: not found\n', head);
    }
  });

  // Listen only once every handler is attached, so that no early request goes unanswered.
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: opts.port, host: '127.0.0.1', exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    }),
    LISTEN_TIMEOUT_MS,
    `inspector listening on 127.0.0.1:${opts.port}`,
  ).catch(async (err: unknown) => {
    await channel.close();
    server.close();
    const code = (err as { code?: string }).code;
    throw new Error(`inspector cannot listen on 127.0.0.1:${opts.port}: ${code ?? errorMessage(err)}`);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;

  let forwarder: StatelyForwarder | undefined;
  if (opts.statelyUrl) forwarder = startStatelyForwarder({ url: opts.statelyUrl, log });

  let pushTimer: NodeJS.Timeout | undefined;
  const push = () => {
    pushTimer = undefined;
    if (channel.clients === 0) {
      store.forgetChanges();
      return;
    }
    const update = store.takeUpdate();
    if (update) channel.broadcast(JSON.stringify(update));
  };

  let failed = false;
  const observer = (ev: InspectionEvent) => {
    try {
      store.observe(ev);
      forwarder?.observe(ev);
      if (!pushTimer && store.dirty) pushTimer = setTimeout(push, PUSH_INTERVAL_MS);
    } catch (err) {
      // The inspector must never disturb the daemon: report once, keep going.
      if (!failed) log.warn(`inspector could not record ${ev.type}: ${errorMessage(err)}`);
      failed = true;
    }
  };

  return {
    url,
    observer,
    async close() {
      clearTimeout(pushTimer);
      stopLayout.abort();
      const closing = Promise.all([
        forwarder?.close(),
        channel.close(),
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
      ]);
      await withTimeout(closing, CLOSE_TIMEOUT_MS, 'closing the inspector').catch((err: unknown) => {
        log.warn(errorMessage(err));
      });
    },
  };
}
