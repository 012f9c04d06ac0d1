// The inspector lays its charts out with elkjs on a thread of its own: the daemon's event loop keeps
// serving while elkjs computes, the main thread never loads elkjs, and a layout that fails or runs
// out of time leaves a page with the live state and no picture. Real inspector, real HTTP on
// 127.0.0.1, real worker thread; nothing is mocked.
import { daemonInput } from '../harness/daemon-input.ts';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import winston from 'winston';
import { createActor } from 'xstate';
import { quietEffects } from '../harness/quiet-effects.ts';
import { provisioningMachine } from '../../machines/provisioning.machine.ts';
import { startInspector, type RunningInspector } from '../../src/inspect/inspector.ts';
import type { Logger } from '../../src/log.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';

/** Logged when the thread starts the layout (it is busy with elkjs from then on). */
const LAYOUT_COMPUTING = /elkjs loaded on the layout thread in \d+ ms, laying out the statecharts/;
/** Logged when a layout is begun (the thread starts). */
const LAYOUT_STARTED = /starting the layout thread/;
const LAYOUT_FAILED = /inspector cannot lay out the statecharts: (.*)/;

/** A debug-level logger that hands every line, as it is logged, to `onLine`. */
function capturingLogger(onLine: (line: string) => void = () => undefined): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      const line = chunk.toString().trimEnd();
      lines.push(line);
      onLine(line);
      done();
    },
  });
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.printf((info) => `${info.level} ${String(info.message)}`),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { log, lines };
}

/**
 * Layout deadline for the tests not about running out of time: loading elkjs on a fresh thread and
 * laying out took over 20 s (the inspector's default) on the shared 2-core machine under load. Waits
 * for the layout and for a page are nets above it, never measurements.
 */
const LAYOUT_DEADLINE_MS = 90_000;
const get = (url: string) => fetch(url, { signal: AbortSignal.timeout(LAYOUT_DEADLINE_MS + 30_000) });

describe('the inspector lays out its charts off the main thread', () => {
  const open: RunningInspector[] = [];
  const actors: Array<{ stop(): void }> = [];
  afterEach(async () => {
    for (const a of actors.splice(0)) a.stop();
    for (const i of open.splice(0)) await withTimeout(i.close(), 5000, 'closing the inspector');
  }, { timeout: 60_000 });

  /** An inspector observing the real root machine (its first state needs no actor). */
  async function started(opts: { log: Logger; layoutTimeoutMs?: number }) {
    const inspector = await startInspector({ port: 0, layoutTimeoutMs: LAYOUT_DEADLINE_MS, ...opts });
    open.push(inspector);
    const input = daemonInput();
    actors.push(createActor(provisioningMachine.provide({ actors: quietEffects }), { input, inspect: inspector.observer }).start());
    return inspector;
  }

  it('keeps answering other requests and running timers while the first page waits for elkjs', async () => {
    const events: string[] = [];
    let layoutStarted: () => void = () => undefined;
    const started$ = new Promise<void>((resolve) => (layoutStarted = resolve));
    const { log, lines } = capturingLogger((line) => {
      if (LAYOUT_COMPUTING.test(line)) {
        events.push('elkjs computing');
        layoutStarted();
      }
    });
    const inspector = await started({ log });

    const page = get(inspector.url).then(async (res) => {
      const html = await res.text();
      events.push('page');
      return { status: res.status, html };
    });
    await withTimeout(started$, LAYOUT_DEADLINE_MS, 'the layout to start');
    // Everything below is scheduled once elkjs is computing; had it been computing on this thread,
    // none of it could happen before the page (the layout's result) is sent.
    const timer = new Promise<void>((resolve) =>
      setTimeout(() => {
        events.push('timer');
        resolve();
      }, 0),
    );
    for (let i = 1; i <= 3; i++) {
      const res = await get(`${inspector.url}view.json`);
      const view = (await res.json()) as { actors: Array<{ label: string; state: string }> };
      assert.equal(view.actors[0]?.state, 'self.NotProvisioned, responder.Off');
      events.push(`view.json ${i}`);
    }
    await timer;
    const { status, html } = await page;

    assert.deepEqual(events, ['elkjs computing', 'timer', 'view.json 1', 'view.json 2', 'view.json 3', 'page']);
    assert.equal(status, 200);
    assert.match(html, /<g class="state" data-state-id="provisioning\.self\.NotProvisioned" data-kind="atomic" data-active="true">/);
    assert.match(html, /data-definition="peer"[\s\S]*<svg/, 'the peer machine is drawn too');
    assert.ok(lines.some((l) => /statecharts laid out in \d+ ms/.test(l)), lines.join('\n'));
    // The main thread never loaded elkjs: only the layout thread did.
    const elkPath = createRequire(import.meta.url).resolve('elkjs/lib/elk.bundled.js');
    assert.equal(createRequire(import.meta.url).cache[elkPath], undefined, 'elkjs is not loaded on the main thread');
  });

  it('lays out once: later pages reuse the charts', async () => {
    const { log, lines } = capturingLogger();
    const inspector = await started({ log });
    const [a, b] = await Promise.all([get(inspector.url), get(inspector.url)]);
    const c = await get(inspector.url);
    for (const res of [a, b, c]) {
      assert.equal(res.status, 200);
      assert.match(await res.text(), /data-state-id="provisioning\.self\.NotProvisioned"/);
    }
    assert.equal(lines.filter((l) => LAYOUT_STARTED.test(l)).length, 1, lines.join('\n'));
  });

  it('serves the live state without the pictures when the layout runs out of time, and tries again on the next page', async () => {
    const { log, lines } = capturingLogger();
    const inspector = await started({ log, layoutTimeoutMs: 1 });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const res = await get(inspector.url);
      assert.equal(res.status, 200);
      const html = await res.text();
      assert.doesNotMatch(html, /<g class="state"/, 'no picture');
      assert.match(html, /data-role="no-chart">the chart could not be laid out \(see the daemon log\)</);
      assert.match(html, /<article class="actor" data-machine="provisioning"[^>]*data-label="provisioning"/);
      assert.match(html, /<span class="state-value" data-role="state">self\.NotProvisioned, responder\.Off<\/span>/);
      assert.match(html, /<dd data-dbus-property="provisioned">false<\/dd>/);
      assert.match(html, /<template id="actor-template-peer">/, 'peers still get their panels as they appear');
      const failures = lines.flatMap((l) => LAYOUT_FAILED.exec(l)?.[1] ?? []);
      assert.equal(failures.length, attempt, lines.join('\n'));
      assert.match(failures.at(-1) ?? '', /laying out the statecharts timed out after 1 ms; the page shows the states without the pictures/);
    }
    const view = await get(`${inspector.url}view.json`);
    assert.equal(view.status, 200, 'the inspector keeps serving');
  });

  it('ends a layout still running when the inspector closes, quietly', async () => {
    let layoutStarted: () => void = () => undefined;
    const started$ = new Promise<void>((resolve) => (layoutStarted = resolve));
    const { log, lines } = capturingLogger((line) => {
      if (LAYOUT_COMPUTING.test(line)) layoutStarted();
    });
    const inspector = await startInspector({ port: 0, log, layoutTimeoutMs: LAYOUT_DEADLINE_MS });
    const page = get(inspector.url).then(
      (res) => res.status,
      () => 'no answer',
    );
    await withTimeout(started$, LAYOUT_DEADLINE_MS, 'the layout to start');
    await withTimeout(inspector.close(), 5000, 'closing the inspector');
    await page;
    assert.deepEqual(
      lines.filter((l) => /^(error|warn)/.test(l)),
      [],
      'closing cancels the layout without an error',
    );
  });
});
