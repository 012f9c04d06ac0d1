// The live inspection pipeline without a daemon process: the real machines, run in this process
// with small test actors, feed the store, the inspector server (on 127.0.0.1) and the Stately
// forwarder; what a page or a Stately inspector receives is checked over real HTTP/WebSocket.
import { daemonInput } from '../harness/daemon-input.ts';
import { acceptsConnections, freePort } from '../harness/daemon.ts';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, request } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { after, afterEach, describe, it } from 'node:test';
import { Script } from 'node:vm';
import { createWebSocketInspector, createWebSocketReceiver } from '@statelyai/inspect';
import WebSocket, { WebSocketServer } from 'ws';
import { createActor, fromCallback, fromPromise, type InspectionEvent } from 'xstate';
import type { AttestationTarget, IssueSummary } from '../../machines/events.ts';
import { peerMachine } from '../../machines/peer.machine.ts';
import { quietEffects } from '../harness/quiet-effects.ts';
import { captureLog } from '../harness/capture-log.ts';
import { provisioningMachine, type ProvisioningActor } from '../../machines/provisioning.machine.ts';
import { daemonSummary } from '../../src/inspect/daemon-summary.ts';
import { InspectionStore } from '../../src/inspect/inspection-store.ts';
import { startInspector, type RunningInspector } from '../../src/inspect/inspector.ts';
import { startLiveChannel } from '../../src/inspect/live-channel.ts';
import type { InspectorView, LiveMessage } from '../../src/inspect/inspector-view.ts';
import { daemonCharts } from '../../src/inspect/statechart-docs.ts';
import { MAX_INCOMING_BYTES, startStatelyForwarder } from '../../src/inspect/stately-forwarder.ts';
import { createLogger } from '../../src/log.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';

const log = createLogger({ level: 'error' });
const SUMMARY: IssueSummary = { caFingerprint: 'ab12', leafNotBefore: 0, leafNotAfter: 86_400_000, leafLifetimeMs: 86_400_000, generation: 1 };

/** Values that must never reach a page or a Stately inspector. */
const SECRET_PIN = 'S3CRET-PIN-4711';
const SECRET_NONCE = 'NONCE-0xfeedface';
const PEM_BODY = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg';
const PEM_KEY = `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}\n-----END PRIVATE KEY-----\n`;
const leaks = (text: string) => [SECRET_PIN, SECRET_NONCE, PEM_BODY].filter((s) => text.includes(s));

/** The real root machine, with an instant issuer and a peer link that comes up at once. */
function testDaemon(inspect: (ev: InspectionEvent) => void, staticPeers = [{ name: 'bmc2', address: '127.0.0.1', port: 9 }]) {
  const machine = provisioningMachine.provide({
    actors: {
      ...quietEffects,
      issueCertificates: fromPromise(async () => SUMMARY),
      tlsResponder: fromCallback(() => () => undefined),
      peer: peerMachine.provide({
        actors: {
          attestPeer: fromPromise<unknown, AttestationTarget>(async () => true),
          tlsClient: fromCallback(({ sendBack }) => {
            sendBack({ type: 'LINK_UP' });
            return () => undefined;
          }),
        },
      }),
    },
  });
  return createActor(machine, {
    input: daemonInput({ staticPeers, retry: { baseMs: 100, capMs: 1000, fastRetries: 3 }, attestationTimeoutMs: 1000, issueRetryMs: 1000 }),
    inspect,
  });
}

/** A ProvisionPeer("self") as the D-Bus adapter sends it, plus secret-looking fields that must not show. */
function provisionSelfWithSecrets(actor: ProvisioningActor): void {
  const event = { type: 'PROVISION_SELF' as const, requestId: 'req-1', pin: SECRET_PIN, nonce: SECRET_NONCE, note: PEM_KEY };
  actor.send(event);
}

const settled = () => new Promise((r) => setTimeout(r, 50));

/**
 * The first page request lays the statecharts out on a thread, which took over 20 s (the inspector's
 * default deadline) on the shared 2-core machine under load: the page tests give it this long, and
 * wait for a page a little longer. Nets, never measurements.
 */
const LAYOUT_DEADLINE_MS = 90_000;
const PAGE_DEADLINE_MS = LAYOUT_DEADLINE_MS + 30_000;

async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 2000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('InspectionStore', () => {
  const { root, peer } = daemonCharts();
  const graphs = new Map([
    ['provisioning', root.graph],
    ['peer', peer.graph],
  ]);

  it('shows the daemon in self.NotProvisioned with peerConnected NotDetermined after start', () => {
    const store = new InspectionStore({ graphs, logLimit: 200, summaryOf: daemonSummary });
    const actor = testDaemon((ev) => store.observe(ev), []).start();
    const view = store.view();
    assert.equal(view.actors.length, 1);
    const [daemon] = view.actors;
    assert.equal(daemon?.label, 'provisioning');
    assert.equal(daemon?.state, 'self.NotProvisioned, responder.Off');
    assert.ok(daemon?.activeStateIds.includes('provisioning.self.NotProvisioned'));
    assert.deepEqual(view.summary, { provisioned: false, peerConnected: 'NotDetermined' });
    assert.deepEqual(
      view.log.map((e) => [e.type, e.source, e.target, e.state]),
      [['xstate.init', 'outside', 'provisioning', 'self.NotProvisioned, responder.Off']],
    );
    actor.stop();
  });

  it('logs each event with its source and resulting state, newest first, secrets redacted', async () => {
    const store = new InspectionStore({ graphs, logLimit: 200, summaryOf: daemonSummary });
    const actor = testDaemon((ev) => store.observe(ev)).start();
    provisionSelfWithSecrets(actor);
    await settled();
    const view = store.view();
    const request = view.log.find((e) => e.type === 'PROVISION_SELF');
    assert.equal(request?.source, 'outside');
    assert.equal(request?.target, 'provisioning');
    assert.equal(request?.state, 'self.Issuing, responder.Off');
    assert.deepEqual(request?.payload, { requestId: 'req-1', pin: '[redacted]', nonce: '[redacted]', note: '[redacted]' });
    const done = view.log.find((e) => e.type.startsWith('xstate.done.actor.'));
    assert.equal(done?.source, 'issueCertificates');
    assert.equal(done?.state, 'self.Provisioned.Ready, responder.Listening');
    assert.ok(view.log.every((e, i) => i === 0 || (view.log[i - 1]?.seq ?? 0) > e.seq), 'newest first');
    assert.deepEqual(leaks(JSON.stringify(view)), []);

    // The static peer was spawned once provisioned, and its link came up.
    const peerView = view.actors.find((a) => a.label === 'peer:bmc2');
    assert.equal(peerView?.machineId, 'peer');
    assert.equal(peerView?.state, 'Link.Connected.Trusted');
    assert.deepEqual(peerView?.activeStateIds, ['peer', 'peer.Link', 'peer.Link.Connected', 'peer.Link.Connected.Trusted']);
    assert.deepEqual(view.summary, { provisioned: true, peerConnected: 'Connected' });
    assert.equal(view.actors[0]?.label, 'provisioning', 'the daemon comes first');
    actor.stop();
  });

  it('keeps at most logLimit entries, the newest', async () => {
    const store = new InspectionStore({ graphs, logLimit: 3, summaryOf: daemonSummary });
    const actor = testDaemon((ev) => store.observe(ev), []).start();
    for (let i = 0; i < 10; i++) actor.send({ type: 'TRUST_UPDATED' });
    const log = store.view().log;
    assert.equal(log.length, 3);
    assert.deepEqual(
      log.map((e) => e.type),
      ['TRUST_UPDATED', 'TRUST_UPDATED', 'TRUST_UPDATED'],
    );
    assert.equal(log[0]?.seq, 11);
    actor.stop();
  });

  it('hands out only what changed, once', () => {
    const store = new InspectionStore({ graphs, logLimit: 200, summaryOf: daemonSummary });
    const actor = testDaemon((ev) => store.observe(ev), []).start();
    const first = store.takeUpdate();
    assert.equal(first?.kind, 'update');
    assert.equal(store.takeUpdate(), undefined);
    actor.send({ type: 'TRUST_UPDATED' });
    const next = store.takeUpdate();
    assert.ok(next?.kind === 'update');
    assert.deepEqual(
      next.log.map((e) => e.type),
      ['TRUST_UPDATED'],
    );
    assert.equal(next.summary, undefined, 'an unchanged summary is not resent');
    actor.send({ type: 'TRUST_UPDATED' });
    store.forgetChanges();
    assert.equal(store.takeUpdate(), undefined, 'forgotten changes are not handed out');
    assert.equal(store.view().log.at(0)?.type, 'TRUST_UPDATED', 'but the log still has them');
    actor.stop();
  });
});

describe('the inspector server', () => {
  const open: Array<{ inspector: RunningInspector; actor: ProvisioningActor }> = [];
  const sockets: WebSocket[] = [];
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    for (const { inspector, actor } of open.splice(0)) {
      actor.stop();
      await inspector.close();
    }
  }, { timeout: 60_000 });

  async function started(staticPeers?: Array<{ name: string; address: string; port: number }>) {
    const inspector = await startInspector({ port: 0, log, layoutTimeoutMs: LAYOUT_DEADLINE_MS });
    const actor = testDaemon(inspector.observer, staticPeers ?? []);
    open.push({ inspector, actor });
    actor.start();
    return { inspector, actor, port: Number(new URL(inspector.url).port) };
  }

  const get = (url: string, init?: RequestInit) => fetch(url, { ...init, signal: AbortSignal.timeout(PAGE_DEADLINE_MS) });

  /** A raw HTTP request, so that the Host header can be set. */
  const rawGet = (port: number, host: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.setTimeout(PAGE_DEADLINE_MS, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });

  /** A WebSocket to /live; `host` sets the Host header, as a browser at the end of a tunnel sends it. */
  function liveSocket(port: number, origin?: string, host?: string): { ws: WebSocket; messages: LiveMessage[]; opened: Promise<void> } {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/live`, { handshakeTimeout: 5000, ...(origin ? { origin } : {}), ...(host ? { headers: { host } } : {}) });
    sockets.push(ws);
    const messages: LiveMessage[] = [];
    ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString()) as LiveMessage));
    const opened = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
    });
    return { ws, messages, opened };
  }

  it('listens on 127.0.0.1 only', async () => {
    const { inspector, port } = await started();
    assert.equal(inspector.url, `http://127.0.0.1:${port}/`);
    // 127.0.0.2 is loopback too: a server bound to all addresses would answer there.
    const reached = await acceptsConnections(port, '127.0.0.2');
    assert.equal(reached, false, 'not reachable on 127.0.0.2');
  });

  it('serves the page with the current state already lit, and its script and stylesheet', async () => {
    const { inspector } = await started();
    const res = await get(inspector.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const html = await res.text();
    assert.match(html, /<g class="state" data-state-id="provisioning\.self\.NotProvisioned" data-kind="atomic" data-active="true">/);
    assert.doesNotMatch(html, /data-state-id="provisioning\.self\.Issuing"[^>]*data-active/);
    assert.match(html, /<dd data-dbus-property="peerConnected">NotDetermined<\/dd>/);
    assert.match(html, /data-definition="peer"/, 'the peer machine is drawn before any peer exists');
    assert.doesNotMatch(html, /https?:\/\/(?!127\.0\.0\.1)/, 'the page refers to no other host');

    const script = await get(`${inspector.url}inspector.js`);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    const source = await script.text();
    assert.doesNotThrow(() => new Script(source), 'the served script parses');
    const css = await get(`${inspector.url}inspector.css`);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    assert.match(await css.text(), /data-active="true"/);
  });

  it('pushes state changes and new log rows to connected pages', async () => {
    const { actor, port } = await started([{ name: 'bmc2', address: '127.0.0.1', port: 9 }]);
    const { messages, opened } = liveSocket(port);
    await opened;
    const hello = await waitFor('the first view', () => messages[0]);
    assert.equal(hello.kind, 'view');
    actor.send({ type: 'PROVISION_SELF', requestId: 'req-2' });
    const lit = await waitFor('the daemon in Provisioned.Ready', () =>
      messages
        .flatMap((m) => (m.kind === 'update' ? m.actors : []))
        .find((a) => a.label === 'provisioning' && a.activeStateIds.includes('provisioning.self.Provisioned.Ready')),
    );
    assert.equal(lit.state, 'self.Provisioned.Ready, responder.Listening');
    const row = await waitFor('the PROVISION_SELF row', () =>
      messages.flatMap((m) => (m.kind === 'update' ? m.log : [])).find((e) => e.type === 'PROVISION_SELF' && e.state),
    );
    assert.equal(row.state, 'self.Issuing, responder.Off');
    await waitFor('the peer actor', () =>
      messages.flatMap((m) => (m.kind === 'update' ? m.actors : [])).find((a) => a.label === 'peer:bmc2' && a.state === 'Link.Connected.Trusted'),
    );
    await waitFor('the summary', () =>
      messages.map((m) => (m.kind === 'update' ? m.summary : undefined)).find((s) => s?.peerConnected === 'Connected'),
    );
  });

  it('never lets a secret-looking field of an event reach the page, the JSON view or the live stream', async () => {
    const { inspector, actor, port } = await started();
    const { ws, opened } = liveSocket(port);
    const raw: string[] = [];
    ws.on('message', (d: Buffer) => raw.push(d.toString()));
    await opened;
    provisionSelfWithSecrets(actor);
    await waitFor('the event on the stream', () => (raw.some((m) => m.includes('"PROVISION_SELF"')) ? true : undefined));
    const page = await (await get(inspector.url)).text();
    const view = await (await get(`${inspector.url}view.json`)).text();
    assert.ok(page.includes('PROVISION_SELF') && page.includes('[redacted]'), 'the event itself is shown, redacted');
    assert.deepEqual(leaks(page), [], 'page');
    assert.deepEqual(leaks(view), [], 'view.json');
    assert.deepEqual(leaks(raw.join('\n')), [], 'live stream');
    const parsed = JSON.parse(view) as InspectorView;
    assert.deepEqual(parsed.log.find((e) => e.type === 'PROVISION_SELF')?.payload, {
      requestId: 'req-1',
      pin: '[redacted]',
      nonce: '[redacted]',
      note: '[redacted]',
    });
  });

  it('refuses other Host headers, foreign WebSocket origins, writes and unknown paths', async () => {
    const { inspector, port } = await started();
    assert.equal(await rawGet(port, `127.0.0.1:${port}`), 200);
    assert.equal(await rawGet(port, `localhost:${port}`), 200);
    assert.equal(await rawGet(port, 'localhost:9091'), 200, 'an SSH tunnel may forward another local port');
    assert.equal(await rawGet(port, `attacker.example:${port}`), 403, 'DNS rebinding is refused');
    assert.equal(await rawGet(port, `127.0.0.1.attacker.example:${port}`), 403);
    assert.equal((await get(inspector.url, { method: 'POST', body: 'x' })).status, 405);
    assert.equal((await get(`${inspector.url}etc/passwd`)).status, 404);
    await assert.rejects(liveSocket(port, 'http://attacker.example').opened, /refused with 401/);
    await assert.rejects(liveSocket(port, 'https://127.0.0.1.attacker.example').opened, /refused with 401/);
    await liveSocket(port, `http://127.0.0.1:${port}`).opened;
    await liveSocket(port, 'http://localhost:9091', 'localhost:9091').opened;
  });

  it('refuses a WebSocket from a page of another local port: the Origin must name the Host the request was sent to', async () => {
    const { port } = await started();
    // Another web application on this machine (or on the workstation at a tunnel's end).
    await assert.rejects(liveSocket(port, 'http://127.0.0.1:3000').opened, /refused with 401/);
    await assert.rejects(liveSocket(port, `http://localhost:${port}`).opened, /refused with 401/, 'another name of the same port is another origin');
    await assert.rejects(liveSocket(port, 'http://localhost:3000', 'localhost:9091').opened, /refused with 401/);
    // The inspector's own page, reached directly or through a tunnel on another local port.
    const { messages, opened } = liveSocket(port, `http://127.0.0.1:${port}`);
    await opened;
    assert.equal((await waitFor('the first view', () => messages[0])).kind, 'view');
    await liveSocket(port, 'http://localhost:9091', 'localhost:9091').opened;
    await liveSocket(port, 'http://[::1]:9091', '[::1]:9091').opened;
  });

  it('reports a port in use clearly, and frees its port on close', async () => {
    // A port claimed for this process: free again between the steps below, and nobody else's meanwhile.
    const busy = await freePort();
    const blocker = createTcpServer();
    await new Promise<void>((resolve) => blocker.listen(busy, '127.0.0.1', resolve));
    await assert.rejects(startInspector({ port: busy, log }), new RegExp(`inspector cannot listen on 127\\.0\\.0\\.1:${busy}: EADDRINUSE`));
    await new Promise((resolve) => blocker.close(resolve));

    const inspector = await startInspector({ port: busy, log });
    const { ws, opened } = liveSocket(busy);
    await opened;
    const closedWs = new Promise((resolve) => ws.once('close', resolve));
    await withTimeout(inspector.close(), 5000, 'inspector close');
    await withTimeout(closedWs, 5000, 'pages disconnected');
    const again = await startInspector({ port: busy, log });
    await again.close();
  });
});

describe('the live channel', () => {
  it('drops a page that stops reading instead of buffering for it', async () => {
    const server = createHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const channel = startLiveChannel({ server, path: '/live', greeting: () => '{}', log, maxBufferedBytes: 64 * 1024 });
    const port = (server.address() as { port: number }).port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/live`, { handshakeTimeout: 5000 });
    let closed = false;
    ws.on('close', () => (closed = true));
    ws.on('error', () => undefined);
    try {
      // The page's end never reads: what the channel sends piles up behind it.
      const socket = await new Promise<{ pause(): void; resume(): void }>((resolve, reject) => {
        ws.once('upgrade', (res) => {
          res.socket.pause();
          resolve(res.socket);
        });
        ws.once('error', reject);
      });
      await waitFor('the page connected', () => (channel.clients === 1 ? true : undefined), 10_000);
      const chunk = JSON.stringify({ kind: 'update', filler: 'x'.repeat(60_000) });
      const end = Date.now() + 120_000;
      while (channel.clients > 0) {
        if (Date.now() > end) assert.fail('the channel kept buffering for a page that does not read');
        for (let i = 0; i < 20; i++) channel.broadcast(chunk);
        await new Promise((resolve) => setImmediate(resolve));
      }
      socket.resume();
      await waitFor('the page to see its connection closed', () => (closed ? true : undefined), 30_000);
    } finally {
      ws.terminate();
      await channel.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

/** A WebSocket server on 127.0.0.1 for a forwarder to connect to; port 0 takes a free one. */
async function startEndpoint(port = 0): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const address = wss.address();
  return { wss, url: `ws://127.0.0.1:${address && typeof address === 'object' ? address.port : port}` };
}

/** A relay like `@statelyai/inspect/server`'s: every message goes to every other client; loopback only. */
async function startRelay(port = 0): Promise<{ wss: WebSocketServer; url: string; received: string[] }> {
  const { wss, url } = await startEndpoint(port);
  const received: string[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      received.push(text);
      for (const other of wss.clients) if (other !== ws && other.readyState === WebSocket.OPEN) other.send(text);
    });
  });
  return { wss, url, received };
}

const closeRelay = (wss: WebSocketServer) =>
  new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => resolve());
  });

interface StatelyLike {
  type: string;
  name?: string;
  definition?: string;
  sessionId?: string;
  snapshot?: { value?: unknown; context?: unknown };
  event?: { type?: string };
}

describe('forwarding to a Stately-compatible WebSocket endpoint', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  }, { timeout: 60_000 });

  it("is read by @statelyai/inspect's WebSocket receiver, sanitised", async () => {
    const relay = await startRelay();
    cleanup.push(() => closeRelay(relay.wss));
    const got: StatelyLike[] = [];
    createWebSocketReceiver({ server: relay.url }).subscribe((ev) => got.push(ev as StatelyLike));
    await waitFor('the receiver to connect', () => (relay.wss.clients.size === 1 ? true : undefined));

    const inspector = await startInspector({ port: 0, log, statelyUrl: relay.url });
    const actor = testDaemon(inspector.observer, []);
    cleanup.push(async () => {
      actor.stop();
      await inspector.close();
    });
    actor.start();
    provisionSelfWithSecrets(actor);

    const daemon = await waitFor('the daemon actor', () => got.find((m) => m.type === '@xstate.actor' && m.name === 'provisioning'));
    assert.equal((JSON.parse(daemon.definition ?? '{}') as { id?: string }).id, 'provisioning', 'the definition is the machine config');
    await waitFor('the event', () => got.find((m) => m.type === '@xstate.event' && m.event?.type === 'PROVISION_SELF'));
    const ready = await waitFor('the Ready snapshot', () =>
      got.find((m) => m.type === '@xstate.snapshot' && m.sessionId === daemon.sessionId && JSON.stringify(m.snapshot?.value) === '{"self":{"Provisioned":"Ready"},"responder":"Listening"}'),
    );
    assert.equal((ready.snapshot?.context as { provisioned?: boolean } | undefined)?.provisioned, true);
    const event = got.find((m) => m.type === '@xstate.event' && m.event?.type === 'PROVISION_SELF');
    assert.deepEqual(event?.event, { type: 'PROVISION_SELF', requestId: 'req-1', pin: '[redacted]', nonce: '[redacted]', note: '[redacted]' });
    assert.deepEqual(leaks(relay.received.join('\n')), []);
    // A relay replays these to the next forwarder (and sends them to other daemons'): they must
    // fit well under what a forwarder accepts from its endpoint.
    const largest = Math.max(...relay.received.map((t) => Buffer.byteLength(t)));
    assert.ok(largest * 8 < MAX_INCOMING_BYTES, `the largest message has ${largest} bytes`);
  });

  it("carries the same fields as @statelyai/inspect's own createWebSocketInspector", async () => {
    const ours = await startRelay();
    const theirs = await startRelay();
    cleanup.push(() => closeRelay(ours.wss), () => closeRelay(theirs.wss));
    const forwarder = startStatelyForwarder({ url: ours.url, log });
    const official = createWebSocketInspector({ url: theirs.url });
    const actor = testDaemon((ev) => {
      forwarder.observe(ev);
      official.inspect.next?.(ev);
    }, []);
    cleanup.push(async () => {
      official.stop();
      await forwarder.close();
    });
    actor.start();
    actor.send({ type: 'PROVISION_SELF', requestId: 'req-3' });
    /** Every field name seen per message type (optional fields such as parentId included). */
    const shapes = (texts: string[]) => {
      const out = new Map<string, Set<string>>();
      for (const t of texts) {
        const m = JSON.parse(t) as Record<string, unknown>;
        const keys = out.get(String(m['type'])) ?? new Set<string>();
        for (const k of Object.keys(m)) keys.add(k);
        out.set(String(m['type']), keys);
      }
      return new Map([...out].map(([type, keys]) => [type, [...keys].sort().join(',')]));
    };
    // Both streams complete: the issuance finished (the Ready snapshot) in each.
    const done = (texts: string[]) => texts.some((t) => t.includes('{"Provisioned":"Ready"}')) && shapes(texts).size === 3;
    await waitFor('both streams', () => (done(ours.received) && done(theirs.received) ? true : undefined), 5000);
    actor.stop();
    assert.deepEqual(shapes(ours.received), shapes(theirs.received));
  });

  it('ends the connection of an endpoint that stops reading, says so, and reconnects', async () => {
    const { wss, url } = await startEndpoint();
    cleanup.push(() => closeRelay(wss));
    const connections: Array<{ ws: WebSocket; resume: () => void; closed: boolean; received: string[] }> = [];
    wss.on('connection', (ws, req) => {
      const c = { ws, resume: () => req.socket.resume(), closed: false, received: [] as string[] };
      connections.push(c);
      ws.on('close', () => (c.closed = true));
      ws.on('message', (d: Buffer) => c.received.push(d.toString()));
      // The first connection is never read: what the daemon sends piles up behind it.
      if (connections.length === 1) req.socket.pause();
    });
    const captured = captureLog();
    const forwarder = startStatelyForwarder({ url, log: captured.log, retryMinMs: 50, retryMaxMs: 100, maxUnreadBytes: 64 * 1024 });
    const actor = testDaemon((ev) => forwarder.observe(ev), []);
    cleanup.push(async () => {
      actor.stop();
      await forwarder.close();
    });
    actor.start();
    await waitFor('the first connection', () => connections[0], 10_000);

    // Events until the forwarder gives up on the connection (the kernel's socket buffers fill first).
    const stalled = () => captured.lines().find((l) => l.includes('stopped reading') && l.includes('code=STATELY_DISCONNECTED'));
    const end = Date.now() + 120_000;
    while (!stalled()) {
      if (Date.now() > end) assert.fail('the forwarder kept buffering for an endpoint that does not read');
      for (let i = 0; i < 200; i++) actor.send({ type: 'TRUST_UPDATED' });
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.match(stalled() ?? '', /^warn ws:\/\/127\.0\.0\.1:\d+\/ stopped reading \(over 65536 bytes unsent\)/);
    // The endpoint, reading again, finds its end of the connection closed.
    connections[0]?.resume();
    await waitFor('the first connection closed', () => (connections[0]?.closed ? true : undefined), 30_000);
    // The forwarder connected again, and the new connection carries the stream.
    await waitFor('the second connection', () => connections[1], 10_000);
    actor.send({ type: 'PROVISION_SELF', requestId: 'after-stall' });
    await waitFor('the stream on the new connection', () => (connections[1]?.received.some((t) => t.includes('"after-stall"')) ? true : undefined), 10_000);
  });

  it('closes the connection when the endpoint sends a message larger than it accepts', async () => {
    const { wss, url } = await startEndpoint();
    cleanup.push(() => closeRelay(wss));
    const closes: number[] = [];
    wss.on('connection', (ws) => {
      ws.on('close', (code: number) => closes.push(code));
      ws.send('x'.repeat(MAX_INCOMING_BYTES + 1));
    });
    const forwarder = startStatelyForwarder({ url, log, retryMinMs: 60_000, retryMaxMs: 60_000 });
    cleanup.push(() => forwarder.close());
    const code = await waitFor('the connection closed', () => closes[0], 10_000);
    assert.equal(code, 1009, 'closed as "message too big"');
  });

  it('buffers while the endpoint is down and delivers once it is up', async () => {
    // A claimed port: nothing listens on it until the relay below, and nobody else takes it meanwhile.
    const url = `ws://127.0.0.1:${await freePort()}`;
    const forwarder = startStatelyForwarder({ url, log, retryMinMs: 50, retryMaxMs: 100 });
    cleanup.push(() => forwarder.close());
    const actor = testDaemon((ev) => forwarder.observe(ev), []);
    actor.start();
    actor.send({ type: 'TRUST_UPDATED' });
    await settled();
    const relay = await startRelay(Number(new URL(url).port));
    cleanup.push(() => closeRelay(relay.wss));
    await waitFor('the buffered messages', () => (relay.received.some((t) => t.includes('"TRUST_UPDATED"')) ? true : undefined), 5000);
    actor.stop();
  });
});
