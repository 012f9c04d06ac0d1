// The live inspector in Debian's Chromium (Playwright), against a real daemon on a private bus
// with inspect_port set: nothing leaves 127.0.0.1, the page shows the daemon's state, and a
// `busctl … ProvisionPeer s self` shows up on the page (highlight and event log) within a second.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, freePort, IFACE, OBJECT, REPO, SERVICE } from '../harness/daemon.ts';
import { killWithArgument } from '../harness/process-by-argument.ts';
import { mustRun } from '../harness/run-tool.ts';
import { closerOf } from '../harness/server-connections.ts';
import { runTeardown } from '../harness/teardown-steps.ts';

const CHROMIUM = '/usr/bin/chromium';
/** Without the network flags Chromium keeps dialling out (updates, sync, field trials). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = join(REPO, 'test-artifacts');
/** How long Chromium may take to close (a net for a browser that hangs or is gone, not a measurement). */
const BROWSER_CLOSE_DEADLINE_MS = 20_000;

/**
 * A proxy on 127.0.0.1 that refuses (and records) whatever Chromium tries to send off this
 * machine. Debian's Chromium 14x still calls Google (update, time, accounts) despite the flags
 * above, so without it the test itself would send traffic off the machine. Loopback bypasses
 * proxies in Chromium, so the inspector's page and WebSocket never pass through it.
 */
async function startOutboundRecorder(): Promise<{ port: number; seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method ?? '?'} ${req.url ?? ''}`);
    res.writeHead(403).end();
  });
  server.on('connect', (req, socket) => {
    seen.push(`CONNECT ${req.url ?? ''}`);
    // A CONNECT's socket is handed over with no 'error' listener of Node's: Chromium resetting it
    // (ECONNRESET) would otherwise be an uncaught exception that fails the whole file.
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  // Chromium keeps its proxy connections alive (and a refused CONNECT half-open): close them all.
  const close = closerOf(server, 'the outbound recorder');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, seen, close };
}

/** True for a URL that stays on this machine's loopback (or never leaves the browser). */
function staysLocal(url: string): boolean {
  if (url.startsWith('about:') || url.startsWith('data:')) return true;
  try {
    return new URL(url).hostname === '127.0.0.1';
  } catch {
    return false;
  }
}

const PEER = 'bmc-peer';
const PEER_STATES = ['peer.Link.InProgress', 'peer.NotConnected.Backoff'];

const stateNode = (actor: string, stateId: string) => `article[data-label="${actor}"] [data-state-id="${stateId}"]`;
const lit = (actor: string, stateId: string) => `${stateNode(actor, stateId)}[data-active="true"]`;

describe('the inspector page in Chromium, against a daemon on a private bus', () => {
  const fixture = useBusFixture();
  let url = '';
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  const requests: string[] = [];
  let outbound: Awaited<ReturnType<typeof startOutboundRecorder>> | undefined;
  let flags: string[] = [];
  /** The profile directories of the Chromiums this suite starts: each one's `--user-data-dir` finds it by PID. */
  const profiles: string[] = [];

  /**
   * Closes the browser, then the recorder. A fixture cleanup, so that it runs before the fixture
   * stops the daemon and removes the temp dirs (Chromium writes into its profile until it is gone).
   * Each step runs whatever the one before did: a browser that is gone or hangs must neither keep
   * the recorder listening (its socket would keep this process alive) nor hold the teardown.
   */
  const closeBrowser = () =>
    runTeardown([
      ['closing Chromium', () => context?.close()],
      // Whatever of Chromium is still there (the page's browser after a failed close, or a
      // --dump-dom run that outlived its timeout) is killed by PID.
      ['killing what is left of Chromium', () => profiles.map((profile) => killWithArgument(`--user-data-dir=${profile}`))],
      ['closing the outbound recorder', () => outbound?.close()],
    ], BROWSER_CLOSE_DEADLINE_MS);

  before(async () => {
    fixture.cleanup(closeBrowser);
    outbound = await startOutboundRecorder();
    flags = [...CHROMIUM_FLAGS, `--proxy-server=http://127.0.0.1:${outbound.port}`];
    const port = await freePort();
    // A static peer on a closed loopback port: once provisioned, the daemon spawns its machine and
    // keeps failing to connect, so the page has a peer actor to show.
    const peers = [{ name: PEER, address: '127.0.0.1', port: await freePort() }];
    const daemon = await fixture.startDaemon({ config: { name: 'bmc-inspect', inspect_port: port, peers } });
    url = `http://127.0.0.1:${port}/`;
    assert.ok(await daemon.waitForOutput(new RegExp(`inspector at http://127\\.0\\.0\\.1:${port}/`)), daemon.output());
    // A fresh profile directory: Playwright passes it to Chromium as --user-data-dir.
    const profile = fixture.tempDir('inspector-chromium-');
    profiles.push(profile);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: flags,
      headless: true,
      viewport: { width: 1600, height: 1300 },
      timeout: 30_000,
      // Playwright's own SIGTERM/SIGINT/SIGHUP handlers only close the browser and keep this process
      // alive, and stay installed as long as any Chromium helper holds the browser's output open:
      // node's runner ends a file that ran out of time with SIGTERM and then waits for it, so with
      // them a stuck file held the whole run. Without them the signal ends the process, and
      // Playwright still kills the browser's process group on exit.
      handleSIGTERM: false,
      handleSIGINT: false,
      handleSIGHUP: false,
    });
    context.on('request', (r) => requests.push(r.url()));
    page = context.pages()[0] ?? (await context.newPage());
    page.on('websocket', (ws) => requests.push(ws.url()));
  }, { timeout: 300_000 });

  /** Every request the page made (documents, scripts, styles, WebSocket) went to 127.0.0.1. */
  const assertNothingLeft = () => {
    assert.deepEqual(requests.filter((r) => !staysLocal(r)), [], 'every request of the page stays on 127.0.0.1');
  };

  const thePage = () => {
    assert.ok(page, 'the browser started');
    return page;
  };

  it('loads and goes live with no request leaving 127.0.0.1', async () => {
    const p = thePage();
    // The first page request lays the statecharts out (up to the inspector's 20 s layout deadline on a
    // loaded machine): wait past that, so the page is judged, not the machine's load.
    const res = await p.goto(url, { waitUntil: 'load', timeout: 40_000 });
    assert.equal(res?.status(), 200);
    await p.waitForSelector('#connection[data-connection="live"]', { timeout: 5000 });
    assert.ok(requests.some((r) => r.startsWith('ws://127.0.0.1:')), `the page opened its WebSocket: ${requests.join(', ')}`);
    assertNothingLeft();
  });

  it('shows NotDetermined, and the daemon in self.NotProvisioned', async () => {
    const p = thePage();
    assert.equal(await p.textContent('[data-dbus-property="peerConnected"]'), 'NotDetermined');
    assert.equal(await p.textContent('[data-dbus-property="provisioned"]'), 'false');
    assert.equal(await p.locator(lit('provisioning', 'provisioning.self.NotProvisioned')).count(), 1);
    assert.equal(await p.textContent('article[data-label="provisioning"] [data-role="state"]'), 'self.NotProvisioned, responder.Off');
    // The peer machine is drawn (no peer yet), NotDetermined first.
    assert.equal(await p.locator('article[data-definition="peer"] [data-state-id="peer.NotDetermined"]').count(), 1);
    const context = JSON.parse((await p.textContent('article[data-label="provisioning"] [data-role="context"]')) ?? '{}') as {
      provisioned?: boolean;
    };
    assert.equal(context.provisioned, false);
  });

  it('after busctl ProvisionPeer s self, the highlight moves and the event is logged within a second', async () => {
    const p = thePage();
    const call = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, call.stderr);
    // The call returns once this BMC is provisioned; the page follows within a second.
    await p.waitForSelector(lit('provisioning', 'provisioning.self.Provisioned.Ready'), { timeout: 1000 });
    assert.equal(await p.locator(lit('provisioning', 'provisioning.self.NotProvisioned')).count(), 0);
    assert.equal(await p.textContent('[data-dbus-property="provisioned"]'), 'true');

    const row = p.locator('#log-body tr', { has: p.locator('[data-role="type"]', { hasText: /^PROVISION_SELF$/ }) });
    await row.first().waitFor({ timeout: 1000 });
    assert.equal(await row.first().locator('[data-role="target"]').textContent(), 'provisioning');
    assert.equal(await row.first().locator('[data-role="state"]').textContent(), 'self.Issuing, responder.Off');
    // Newest first: the issuance's completion comes above the request.
    const types = await p.locator('#log-body [data-role="type"]').allTextContents();
    assert.ok(types.indexOf('PROVISION_SELF') > types.findIndex((t) => t.startsWith('xstate.done.actor.')), types.join(', '));

    // The static peer's machine was spawned: its own panel, its state lit, its context beside it.
    const peerPanel = `article[data-label="peer:${PEER}"]`;
    await p.waitForSelector(`${peerPanel} [data-kind="atomic"][data-active="true"]`, { timeout: 1000 });
    assert.equal(await p.locator('article[data-definition="peer"]').count(), 0, 'the unlit peer chart made way for the peer');
    const litPeer = await p.locator(`${peerPanel} [data-kind="atomic"][data-active="true"]`).evaluateAll((els) => els.map((e) => e.getAttribute('data-state-id')));
    assert.equal(litPeer.length, 1, litPeer.join(', '));
    assert.ok(PEER_STATES.includes(litPeer[0] ?? ''), `the peer keeps trying to connect: ${litPeer.join(', ')}`);
    const peerContext = JSON.parse((await p.textContent(`${peerPanel} [data-role="context"]`)) ?? '{}') as { name?: string };
    assert.equal(peerContext.name, PEER);

    mkdirSync(ARTIFACTS, { recursive: true });
    await p.screenshot({ path: join(ARTIFACTS, 'inspector.png'), fullPage: false });
    if (process.env['UPDATE_INSPECTOR_SCREENSHOT']) copyFileSync(join(ARTIFACTS, 'inspector.png'), join(REPO, 'docs/inspector.png'));
    assertNothingLeft();
  });

  it('chromium --headless --dump-dom shows the new active state', async (t) => {
    const profile = fixture.tempDir('inspector-dump-dom-');
    profiles.push(profile);
    const stdout = await mustRun(CHROMIUM, [...flags, `--user-data-dir=${profile}`, '--dump-dom', url], { timeoutMs: 30_000 });
    const tagOf = (stateId: string) => {
      const tags = stdout.match(new RegExp(`<g [^>]*data-state-id="${stateId.replace(/\./g, '\\.')}"[^>]*>`, 'g')) ?? [];
      assert.ok(tags.length > 0, `${stateId} is on the page`);
      return tags.join('\n');
    };
    assert.match(tagOf('provisioning.self.Provisioned.Ready'), /data-active="true"/);
    assert.doesNotMatch(tagOf('provisioning.self.NotProvisioned'), /data-active/);
    assertNothingLeft();
    // Chromium's own background calls, refused by the proxy: not the page's, reported for the record.
    const refused = [...new Set(outbound?.seen.map((r) => r.split('?')[0]))];
    if (refused.length) t.diagnostic(`refused Chromium background requests: ${refused.join(', ')}`);
  });
});
