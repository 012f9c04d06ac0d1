/**
 * The TlsLinkClient (the peer machine's tlsClient actor) over real TLS on 127.0.0.1: against the real
 * responder, against servers with the wrong identity, against dead, silent and killed peers; and
 * both actors run by XState.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as netCreateServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer as tlsCreateServer, type Server as TlsServer } from 'node:tls';
import { assign, createActor, setup } from 'xstate';
import type { LinkEvent, LinkTarget, ResponderEvent } from '../../machines/events.ts';
import { createTlsClientActor } from '../../src/actors/tls-client.actor.ts';
import { createTlsResponderActor } from '../../src/actors/tls-responder.actor.ts';
import { configSchema } from '../../src/config/schema.ts';
import { CredentialHolder } from '../../src/pki/certificate/index.ts';
import { TrustStore } from '../../src/pki/trust/index.ts';
import { BmcResponder } from '../../src/tls/bmc-responder.ts';
import type { LinkTimings } from '../../src/tls/link-timings.ts';
import { expectedRefusals } from '../../src/tls/expected-refusals.ts';
import { TlsLinkClient } from '../../src/tls/tls-link-client.ts';
import { captureLog } from '../harness/capture-log.ts';
import { REPO, eventually, freePort } from '../harness/daemon.ts';
import { stopProcess } from '../harness/stop-process.ts';
import { closerOf } from '../harness/server-connections.ts';
import { STARTUP_DEADLINE_MS } from '../harness/startup-deadline.ts';
import { runTeardown, type TeardownStep } from '../harness/teardown-steps.ts';
import { createTestPki, credentialsOf, crossTrust, holderOf, type TestLeaf, type TestPki, linkUpFrom } from '../harness/test-pki.ts';

// Deadlines generous enough that a loaded CI machine does not fake a failure, short enough to wait for.
const TIMINGS: LinkTimings = { keepaliveIntervalMs: 200, keepaliveTimeoutMs: 1000, handshakeTimeoutMs: 2000, idleTimeoutMs: 3000 };
/** Generous deadline for "it eventually happens"; the precise window is measured in bench/tls.bench.ts. */
const DEADLINE_MS = 5000;

describe('TlsLinkClient: one outbound peer link', () => {
  let pki: TestPki;
  let trustA: TrustStore;
  let trustB: TrustStore;
  let credsA: CredentialHolder;
  let credsB: CredentialHolder;
  let responder: BmcResponder;
  let port: number;
  const responderEvents: ResponderEvent[] = [];
  const clientLog = captureLog();
  const cleanup: (() => unknown)[] = [];

  /** Starts bmc-b's client towards `target` and collects its events. */
  function startClient(target: Partial<LinkTarget> & { port: number }, credentials = credsB) {
    const events: LinkEvent[] = [];
    const client = new TlsLinkClient({
      target: { name: 'bmc-a', address: '127.0.0.1', ...target },
      timings: TIMINGS,
      credentials,
      trust: trustB,
      log: clientLog.log,
      onEvent: (e) => events.push(e),
    });
    cleanup.push(() => client.close());
    client.start();
    const next = async (n: number): Promise<LinkEvent | undefined> => {
      await eventually(() => events.length >= n, DEADLINE_MS, 10);
      return events[n - 1];
    };
    return { client, events, next };
  }

  /** What one dial of bmc-b's client is given besides its credentials: where, what it trusts, where it logs. */
  interface DialOnce {
    readonly port: number;
    readonly name?: string;
    readonly trust: TrustStore;
    readonly log: ReturnType<typeof captureLog>['log'];
    readonly expected: ReturnType<typeof expectedRefusals>;
  }

  /** One dial of bmc-b's client: the event that ended it (a LINK_UP is passed over). */
  function dialOnce(o: DialOnce): Promise<LinkEvent> {
    return new Promise<LinkEvent>((resolve) => {
      const client = new TlsLinkClient({
        target: { name: o.name ?? 'bmc-a', address: '127.0.0.1', port: o.port },
        timings: TIMINGS,
        credentials: credsB,
        trust: o.trust,
        log: o.log,
        expected: o.expected,
        onEvent: (ev) => {
          if (ev.type !== 'LINK_UP') resolve(ev);
        },
      });
      cleanup.push(async () => client.close());
      client.start();
    });
  }

  /** A TLS server with `leaf` as its certificate that answers lines with `reply` (undefined = silence). */
  async function scriptedServer(leaf: TestLeaf, reply: (line: string, n: number) => string | undefined): Promise<number> {
    const server: TlsServer = tlsCreateServer({ key: leaf.keyPem, cert: leaf.chainPem });
    server.on('secureConnection', (s) => {
      let n = 0;
      let buf = '';
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
          const answer = reply(buf.slice(0, i), n++);
          buf = buf.slice(i + 1);
          if (answer !== undefined) s.write(answer);
        }
      });
    });
    server.on('tlsClientError', () => undefined);
    const close = closerOf(server, 'a scripted TLS server');
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    cleanup.push(close);
    return (server.address() as { port: number }).port;
  }

  before(async () => {
    pki = await createTestPki();
    ({ a: trustA, b: trustB } = await crossTrust(pki));
    credsA = holderOf(pki.a);
    credsB = holderOf(pki.b);
    responder = new BmcResponder({
      port: 0,
      host: '127.0.0.1',
      timings: TIMINGS,
      maxConnections: 64,
      credentials: credsA,
      trust: trustA,
      log: captureLog().log,
      onEvent: (e) => responderEvents.push(e),
    });
    port = (await responder.listen()).port;
  }, { timeout: 300_000 });

  after(async () => {
    await runTeardown([
      ...cleanup.reverse().map((c, i): TeardownStep => [`cleanup ${i + 1} of ${cleanup.length}`, c]),
      ['closing the responder', () => responder?.close()],
    ]);
  }, { timeout: 120_000 });

  it('LINK_UP against the real responder, which names the link bmc-b; close() ends it at once and silently', async () => {
    const { client, events, next } = startClient({ port });
    assert.deepEqual(await next(1), linkUpFrom(pki.a.server));
    const up = responderEvents.find((e) => e.type === 'INBOUND_UP');
    assert.equal(up?.type === 'INBOUND_UP' && up.peer, 'bmc-b');
    await new Promise((r) => setTimeout(r, 700)); // a few ping/alive rounds
    assert.deepEqual(events, [linkUpFrom(pki.a.server)], 'pings were answered: still up');
    client.close();
    assert.ok(await eventually(() => responderEvents.some((e) => e.type === 'INBOUND_DOWN'), 1000), 'the server saw the close at once');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(events, [linkUpFrom(pki.a.server)], 'no event after close()');
  });

  it('LINK_REJECTED when the server certificate names another peer', async () => {
    const p = await scriptedServer(pki.otherNameServer, () => 'alive\n');
    const { next } = startClient({ port: p });
    const e = await next(1);
    assert.equal(e?.type, 'LINK_REJECTED');
    assert.match(e?.type === 'LINK_REJECTED' ? e.reason : '', /names bmc-c, expected bmc-a/);
    const logged = clientLog.records().find((r) => r['event'] === 'LINK_REJECTED');
    assert.equal(logged?.['peer'], 'bmc-a', 'logged with the peer it meant to reach');
  });

  it('LINK_REJECTED when the server certificate has an absurd validity (four years), with the reason', async () => {
    const p = await scriptedServer(pki.yearsLongServer, () => 'alive\n');
    const { next } = startClient({ port: p });
    const e = await next(1);
    assert.equal(e?.type, 'LINK_REJECTED');
    assert.match(e?.type === 'LINK_REJECTED' ? e.reason : '', /server certificate is valid for 146\d days .*, longer than any leaf a provisioningd issues/);
  });

  it('LINK_REJECTED when the server certificate comes from an untrusted CA', async () => {
    const p = await scriptedServer(pki.rogueServer, () => 'alive\n');
    const { next } = startClient({ port: p });
    const e = await next(1);
    assert.equal(e?.type, 'LINK_REJECTED');
    assert.match(e?.type === 'LINK_REJECTED' ? e.reason : '', /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
  });

  it('LINK_REJECTED when the trusted server leaf lacks EKU serverAuth', async () => {
    const p = await scriptedServer(pki.b.client, () => 'alive\n'); // a clientAuth-only leaf naming bmc-b
    const { next } = startClient({ port: p, name: 'bmc-b' });
    const e = await next(1);
    assert.equal(e?.type, 'LINK_REJECTED', JSON.stringify(e));
  });

  it('LINK_FAILED on a closed port', async () => {
    const { next } = startClient({ port: await freePort() });
    const e = await next(1);
    assert.equal(e?.type, 'LINK_FAILED');
    assert.match(e?.type === 'LINK_FAILED' ? e.reason : '', /ECONNREFUSED/);
  });

  it('a closed port is a warning for a peer some trusted CA vouches for, and an expected info line (once) for one not attested yet', async () => {
    const closed = await freePort();
    const attempt = (trust: TrustStore, log: ReturnType<typeof captureLog>, expected = expectedRefusals(log.log)) => dialOnce({ port: closed, trust, log: log.log, expected });
    const trusted = captureLog();
    assert.equal((await attempt(trustB, trusted)).type, 'LINK_FAILED');
    const warned = trusted.records().filter((r) => r['event'] === 'LINK_FAILED');
    assert.deepEqual(warned.map((r) => r['level']), ['warn'], 'bmc-a is attested here: its daemon not listening is news');
    assert.match(String(warned[0]?.['message']), /ECONNREFUSED/);

    const stranger = await emptyTrust('empty-authority-4');
    const early = captureLog();
    const expected = expectedRefusals(early.log);
    for (let i = 0; i < 2; i++) assert.equal((await attempt(stranger, early, expected)).type, 'LINK_FAILED');
    const noted = early.records().filter((r) => r['event'] === 'LINK_FAILED');
    assert.deepEqual(noted.map((r) => r['level']), ['info', 'debug'], JSON.stringify(noted));
    assert.match(String(noted[0]?.['message']), /ECONNREFUSED.*\(expected until this BMC has attested it; repeats at debug\)$/);
  });

  it('a server answering for a peer not attested yet with a leaf from a CA attested for another name still warns', async () => {
    // bmc-a's CA is attested for bmc-a only; the real responder (bmc-a's leaf) answers where we dial bmc-c.
    const bound = await emptyTrust('bound-to-bmc-a');
    await bound.addAttested(pki.a.ca.pem, 'bmc-a');
    const captured = captureLog();
    const event = await dialOnce({ port, name: 'bmc-c', trust: bound, log: captured.log, expected: expectedRefusals(captured.log) });
    assert.equal(event.type, 'LINK_REJECTED', JSON.stringify(event));
    const logged = captured.records().filter((r) => r['event'] === 'LINK_REJECTED');
    assert.deepEqual(logged.map((r) => r['level']), ['warn'], JSON.stringify(logged));
    assert.doesNotMatch(String(logged[0]?.['message']), /expected until/);
  });

  it('LINK_FAILED when a server accepts TCP but never speaks TLS (handshake timeout)', async () => {
    const server: NetServer = netCreateServer((s: Socket) => s.on('error', () => undefined));
    cleanup.push(closerOf(server, 'a server that never speaks TLS'));
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const { next } = startClient({ port: (server.address() as { port: number }).port });
    assert.deepEqual(await next(1), { type: 'LINK_FAILED', reason: 'no TLS connection within 2 s' });
  });

  it('LINK_FAILED when the server completes TLS but never answers Hello', async () => {
    const p = await scriptedServer(pki.a.server, () => undefined);
    const { next } = startClient({ port: p });
    assert.deepEqual(await next(1), { type: 'LINK_FAILED', reason: 'no alive to Hello within 2 s of connecting' });
  });

  /** An empty trust store under `dirName`: it vouches for nobody, as before any attestation. */
  async function emptyTrust(dirName: string): Promise<TrustStore> {
    const stranger = new TrustStore({ dir: join(pki.dir, dirName) });
    await stranger.reload();
    return stranger;
  }

  /** A responder whose trust store (under `dirName`) is empty: it refuses every client certificate. */
  async function pickyResponder(dirName: string, log = captureLog().log): Promise<number> {
    const stranger = await emptyTrust(dirName);
    const picky = new BmcResponder({
      port: 0,
      host: '127.0.0.1',
      timings: TIMINGS,
      maxConnections: 8,
      credentials: credsA,
      trust: stranger,
      log,
      onEvent: () => undefined,
    });
    const p = (await picky.listen()).port;
    cleanup.push(() => picky.close());
    return p;
  }

  it('LINK_FAILED (retryable), not REJECTED, when the peer refuses our certificate', async () => {
    const p = await pickyResponder('empty-authority');
    const { next } = startClient({ port: p });
    const e = await next(1);
    assert.equal(e?.type, 'LINK_FAILED', JSON.stringify(e));
    // TLS 1.3: our side of the handshake completes, then the server drops the connection unanswered.
    assert.match(e?.type === 'LINK_FAILED' ? e.reason : '', /connection closed before the link was up|peer refused the handshake/);
  });

  it('a peer that refuses us (does not trust us yet) is logged at info once, not warned on every attempt', async () => {
    const responderLog = captureLog();
    const p = await pickyResponder('empty-authority-2', responderLog.log);
    const captured = captureLog();
    const expected = expectedRefusals(captured.log);
    for (let i = 0; i < 3; i++) {
      const event = await dialOnce({ port: p, trust: trustB, log: captured.log, expected });
      assert.equal(event.type, 'LINK_FAILED', JSON.stringify(event));
    }
    const records = captured.records().filter((r) => r['event'] === 'LINK_FAILED');
    assert.deepEqual(records.map((r) => r['level']), ['info', 'debug', 'debug'], JSON.stringify(records));
    assert.match(String(records[0]?.['message']), /link attempt failed .*\(expected until it has attested this BMC; repeats at debug\)$/);
    assert.equal(captured.records().filter((r) => r['level'] === 'warn').length, 0, 'no warning');
    // The responder refused a client it has not attested: its line says so the other way round.
    const refused = responderLog.records().filter((r) => r['event'] === 'HANDSHAKE_FAILED');
    assert.deepEqual(refused.map((r) => r['level']), ['info', 'debug', 'debug'], JSON.stringify(refused));
    assert.match(String(refused[0]?.['message']), /^handshake refused: .*\(expected until this BMC has attested it; repeats at debug\)$/);
  });

  it('a server we have not attested yet (no CA may vouch for its name) is refused at info once, saying it awaits our attestation', async () => {
    const captured = captureLog();
    const expected = expectedRefusals(captured.log);
    const stranger = await emptyTrust('empty-authority-3');
    for (let i = 0; i < 2; i++) {
      const event = await dialOnce({ port, trust: stranger, log: captured.log, expected });
      assert.equal(event.type, 'LINK_REJECTED', JSON.stringify(event));
    }
    const records = captured.records().filter((r) => r['event'] === 'LINK_REJECTED');
    assert.deepEqual(records.map((r) => r['level']), ['info', 'debug'], JSON.stringify(records));
    assert.match(String(records[0]?.['message']), /server certificate refused: .*\(expected until this BMC has attested it; repeats at debug\)$/);
  });

  it('LINK_FAILED before any certificate was issued', async () => {
    const { next } = startClient({ port }, new CredentialHolder());
    assert.deepEqual(await next(1), { type: 'LINK_FAILED', reason: 'no client certificate has been issued yet' });
  });

  it('LINK_FAILED, without dialling anything, for a target without an address', async () => {
    const { next } = startClient({ port, address: '' });
    assert.deepEqual(await next(1), { type: 'LINK_FAILED', reason: `no usable address for bmc-a: "" port ${port}` });
  });

  it('LINK_FAILED when this BMC holds a broken key', async () => {
    const broken = new CredentialHolder();
    const good = credentialsOf(pki.b);
    broken.set({ ...good, client: { ...good.client, keyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' } });
    const { next } = startClient({ port }, broken);
    const e = await next(1);
    assert.equal(e?.type, 'LINK_FAILED');
    assert.match(e?.type === 'LINK_FAILED' ? e.reason : '', /^cannot build the TLS context: /);
  });

  it('LINK_FAILED when the server answers Hello with something else', async () => {
    const p = await scriptedServer(pki.a.server, () => 'bogus\n');
    const { next } = startClient({ port: p });
    assert.deepEqual(await next(1), { type: 'LINK_FAILED', reason: 'protocol error: unexpected "bogus" from the server' });
  });

  it('LINK_DOWN when a server stops answering pings', async () => {
    const p = await scriptedServer(pki.a.server, (_line, n) => (n < 3 ? 'alive\n' : undefined));
    const { events, next } = startClient({ port: p });
    assert.deepEqual(await next(1), linkUpFrom(pki.a.server));
    assert.deepEqual(await next(2), { type: 'LINK_DOWN', reason: 'no alive within 1 s of ping' });
    assert.equal(events.length, 2);
    const logged = clientLog.records().find((r) => r['event'] === 'LINK_DOWN');
    assert.equal(logged?.['peer'], 'bmc-a');
  });

  it('LINK_DOWN when the responder process is SIGKILLed', async () => {
    const child = await startChildResponder(pki);
    cleanup.push(() => stopProcess(child.process));
    const { next } = startClient({ port: child.port });
    assert.deepEqual(await next(1), linkUpFrom(pki.a.server));
    child.process.kill('SIGKILL');
    const down = await next(2);
    assert.equal(down?.type, 'LINK_DOWN');
    assert.match(down?.type === 'LINK_DOWN' ? down.reason : '', /peer closed the connection|ECONNRESET/);
  });
});

/** A BmcResponder for bmc-a in its own process, so it can be SIGKILLed. */
async function startChildResponder(pki: TestPki): Promise<{ process: ChildProcess; port: number }> {
  const script = `
    import { readFileSync } from 'node:fs';
    import winston from 'winston';
    import { BmcResponder } from './src/tls/bmc-responder.ts';
    import { CredentialHolder } from './src/pki/certificate/index.ts';
    const env = (k) => readFileSync(process.env[k], 'utf8');
    const credentials = new CredentialHolder();
    const a = { keyPem: env('KEY'), certChainPem: env('CHAIN'), caPem: env('CA'), notAfter: new Date(Date.now() + 86400000) };
    credentials.set({ server: a, client: a });
    const peerCa = env('PEER_CA');
    const responder = new BmcResponder({
      port: 0, host: '127.0.0.1', maxConnections: 8, credentials,
      timings: { keepaliveIntervalMs: 200, keepaliveTimeoutMs: 1000, handshakeTimeoutMs: 2000, idleTimeoutMs: 3000 },
      trust: { caPems: () => [peerCa], onChange: () => () => undefined },
      log: winston.createLogger({ silent: true }), onEvent: () => undefined,
    });
    const { port } = await responder.listen();
    process.stdout.write('PORT ' + port + '\\n');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      KEY: pki.a.server.keyFile,
      CHAIN: pki.a.server.chainFile,
      CA: pki.a.ca.certFile,
      PEER_CA: pki.b.ca.certFile,
    },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const started = await eventually(() => /PORT \d+/.test(out) || child.exitCode !== null, STARTUP_DEADLINE_MS, 20);
  const port = Number(/PORT (\d+)/.exec(out)?.[1]);
  if (!started || !port) {
    await stopProcess(child);
    throw new Error(`child responder did not start: ${out}`);
  }
  return { process: child, port };
}

describe('the tlsClient and tlsResponder actors under XState', () => {
  let pki: TestPki;
  let trustA: TrustStore;
  let trustB: TrustStore;

  before(async () => {
    pki = await createTestPki();
    ({ a: trustA, b: trustB } = await crossTrust(pki));
  }, { timeout: 300_000 });

  /** A parent machine that invokes `src` and keeps every event it gets back. */
  function parentOf(actors: Parameters<typeof setup>[0]['actors'], src: string, input?: LinkTarget) {
    return setup({ types: { context: {} as { seen: { type: string }[] } }, actors }).createMachine({
      context: { seen: [] },
      invoke: { src, input },
      on: { '*': { actions: assign({ seen: ({ context, event }) => [...context.seen, event] }) } },
    });
  }

  it('runs both ends: INBOUND_UP and LINK_UP; stopping the client actor closes its socket', async () => {
    const port = await freePort();
    const log = captureLog().log;
    const mk = (name: string) => configSchema.parse({ name, port, listen_addresses: ['127.0.0.1'], keepalive_interval: 0.2, keepalive_timeout: 1, idle_timeout: 3 });
    const credsA = holderOf(pki.a);
    const credsB = holderOf(pki.b);
    const server = createActor(
      parentOf({ tlsResponder: createTlsResponderActor({ config: mk('bmc-a'), credentials: credsA, trustStore: trustA, log }) }, 'tlsResponder'),
    ).start();
    try {
      await new Promise((r) => setTimeout(r, 200));
      const client = createActor(
        parentOf(
          { tlsClient: createTlsClientActor({ config: mk('bmc-b'), credentials: credsB, trustStore: trustB, log }) },
          'tlsClient',
          { name: 'bmc-a', address: '127.0.0.1', port },
        ),
      ).start();
      const seenBy = (a: typeof server) => a.getSnapshot().context.seen.map((e) => e.type);
      assert.ok(await eventually(() => seenBy(client).includes('LINK_UP'), DEADLINE_MS), `client saw ${seenBy(client)}`);
      assert.ok(await eventually(() => seenBy(server).includes('INBOUND_UP'), DEADLINE_MS));
      client.stop();
      assert.ok(await eventually(() => seenBy(server).includes('INBOUND_DOWN'), 1000), 'the server saw the link end when the actor stopped');
    } finally {
      server.stop();
    }
  });

  it('an impostor answering every dial is refused every time, lets nothing in, and fills the log with 20 lines at most', async () => {
    // Whatever answers at the peer's address: its own CA, a leaf naming the peer we dial.
    const impostor: TlsServer = tlsCreateServer({ key: pki.rogueServer.keyPem, cert: pki.rogueServer.chainPem });
    const seen = { handshakes: 0, bytes: 0, refused: 0 };
    impostor.on('secureConnection', (s) => {
      seen.handshakes++;
      s.on('data', (d: Buffer) => (seen.bytes += d.length));
      s.on('error', () => undefined);
    });
    impostor.on('tlsClientError', () => seen.refused++);
    const closeImpostor = closerOf(impostor, 'the impostor');
    await new Promise<void>((res) => impostor.listen(0, '127.0.0.1', res));
    const port = (impostor.address() as { port: number }).port;
    const captured = captureLog();
    const tlsClient = createTlsClientActor({ config: configSchema.parse({ name: 'bmc-b', port }), credentials: holderOf(pki.b), trustStore: trustB, log: captured.log });
    try {
      const DIALS = 25;
      for (let i = 0; i < DIALS; i++) {
        const client = createActor(parentOf({ tlsClient }, 'tlsClient', { name: 'bmc-a', address: '127.0.0.1', port })).start();
        const seenBy = () => client.getSnapshot().context.seen.map((e) => e.type);
        assert.ok(await eventually(() => seenBy().length > 0, DEADLINE_MS), `dial ${i} ended`);
        assert.deepEqual(seenBy(), ['LINK_REJECTED'], `dial ${i}`);
        client.stop();
      }
      assert.ok(await eventually(() => seen.refused === DIALS, DEADLINE_MS), `the impostor saw every dial abort its handshake (${seen.refused})`);
      assert.deepEqual({ handshakes: seen.handshakes, bytes: seen.bytes }, { handshakes: 0, bytes: 0 }, 'no handshake completed, not a byte (no Hello) reached the impostor');
      const lines = captured.records().filter((r) => r['event'] === 'LINK_REJECTED');
      assert.equal(lines.length, 20, 'the first 20 refusals of the window are logged, the rest counted');
      assert.match(String(lines[0]?.['message']), /^link attempt failed \(127\.0\.0\.1:\d+\): server certificate refused: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT)/);
      assert.equal(lines[0]?.['peer'], 'bmc-a');
    } finally {
      await closeImpostor();
    }
  });

  it('tlsResponder sends RESPONDER_FAILED when its port is taken', async () => {
    const squatter = netCreateServer();
    await new Promise<void>((res) => squatter.listen(0, res));
    const port = (squatter.address() as { port: number }).port;
    const creds = holderOf(pki.a);
    const config = configSchema.parse({ name: 'bmc-a', port, listen_addresses: ['127.0.0.1'] });
    const server = createActor(
      parentOf({ tlsResponder: createTlsResponderActor({ config, credentials: creds, trustStore: trustA, log: captureLog().log }) }, 'tlsResponder'),
    ).start();
    try {
      assert.ok(await eventually(() => server.getSnapshot().context.seen.length > 0, DEADLINE_MS));
      const failed = server.getSnapshot().context.seen[0] as ResponderEvent;
      assert.equal(failed.type, 'RESPONDER_FAILED');
      assert.match(failed.type === 'RESPONDER_FAILED' ? failed.reason : '', new RegExp(`cannot listen on port ${port}: .*EADDRINUSE`));
    } finally {
      server.stop();
      await new Promise((res) => squatter.close(res));
    }
  });
});
