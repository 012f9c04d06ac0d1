/**
 * The BmcResponder over real TLS on 127.0.0.1, with `openssl s_client` as the foreign client and
 * a real TlsLinkClient as the peer whose link must survive everything the hostile clients do.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { connect as netConnect, createServer as netCreateServer, type Server as NetServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { LinkEvent, ResponderEvent } from '../../machines/events.ts';
import type { CredentialHolder } from '../../src/pki/certificate/index.ts';
import type { TrustStore, TrustedCa } from '../../src/pki/trust/index.ts';
import { BmcResponder } from '../../src/tls/bmc-responder.ts';
import type { LinkTimings } from '../../src/tls/link-timings.ts';
import { TlsLinkClient } from '../../src/tls/tls-link-client.ts';
import { captureLog } from '../harness/capture-log.ts';
import { eventually } from '../harness/daemon.ts';
import { createTestPki, crossTrust, holderOf, issueTestLeaf, leafFingerprintOf, type TestLeaf, type TestPki, linkUpFrom } from '../harness/test-pki.ts';

const SERVER_TIMINGS: LinkTimings = { keepaliveIntervalMs: 200, keepaliveTimeoutMs: 500, handshakeTimeoutMs: 1000, idleTimeoutMs: 1500 };
// The real peer pings every 100 ms; a generous 2 s for each alive keeps a loaded CI machine from faking a failure.
const CLIENT_TIMINGS: LinkTimings = { keepaliveIntervalMs: 100, keepaliveTimeoutMs: 2000, handshakeTimeoutMs: 5000, idleTimeoutMs: 1500 };

/** What one `openssl s_client` run saw. */
interface SClientRun {
  readonly gotAlive: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

describe('BmcResponder: mutual TLS and the line protocol', () => {
  let pki: TestPki;
  let trustA: TrustStore;
  let trustedB: TrustedCa;
  let credsA: CredentialHolder;
  let responder: BmcResponder;
  let port: number;
  const serverLog = captureLog({ redact: false });
  const events: ResponderEvent[] = [];
  // The real peer: bmc-b's TlsLinkClient, pinging every 100 ms; it must never go down.
  let peerLink: TlsLinkClient;
  const peerEvents: LinkEvent[] = [];

  /** `openssl s_client` with `args`: sends Hello, waits for alive (or the end), then quits. */
  async function sClient(args: readonly string[], timeoutMs = 5000): Promise<SClientRun> {
    const child = spawn(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'bmc-a', '-CAfile', pki.a.ca.certFile, '-verify_return_error', '-brief', ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined); // the server may have closed before we write
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    let done = false;
    void exited.then(() => (done = true));
    child.stdin.write('Hello\n');
    await eventually(() => done || stdout.includes('alive\n'), timeoutMs, 20);
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
    return { gotAlive: stdout.includes('alive\n'), stdout, stderr };
  }

  const clientCert = (leaf: TestLeaf) => ['-cert', leaf.certFile, '-key', leaf.keyFile];

  function logFor(event: string): Record<string, unknown>[] {
    return serverLog.records().filter((r) => r['event'] === event);
  }

  /** The reasons of the INBOUND_FAILED events (what the metrics count as inbound handshakes that failed). */
  const inboundFailures = () => events.flatMap((e) => (e.type === 'INBOUND_FAILED' ? [e.reason] : []));

  /** The peer's link is still the same one and still answered: no LINK_DOWN, no INBOUND_DOWN. */
  function assertPeerLinkUntouched(): void {
    assert.deepEqual(peerEvents, [linkUpFrom(pki.a.server)], 'the real peer link never went down');
    assert.equal(events.filter((e) => e.type === 'INBOUND_DOWN' && e.peer === 'bmc-b' && e.connectionId === 'in-1').length, 0);
    assert.ok(responder.peers.includes('bmc-b'));
  }

  before(async () => {
    pki = await createTestPki();
    const trust = await crossTrust(pki);
    trustA = trust.a;
    trustedB = trust.bInA;
    const trustB = trust.b;
    credsA = holderOf(pki.a);
    const credsB = holderOf(pki.b);
    responder = new BmcResponder({
      port: 0,
      host: '127.0.0.1',
      timings: SERVER_TIMINGS,
      maxConnections: 64,
      credentials: credsA,
      trust: trustA,
      log: serverLog.log,
      onEvent: (e) => events.push(e),
    });
    port = (await responder.listen()).port;
    peerLink = new TlsLinkClient({
      target: { name: 'bmc-a', address: '127.0.0.1', port },
      timings: CLIENT_TIMINGS,
      credentials: credsB,
      trust: trustB,
      log: captureLog().log,
      onEvent: (e) => peerEvents.push(e),
    });
    peerLink.start();
    assert.ok(await eventually(() => peerEvents.length > 0, 5000), 'the real peer link came up');
    assert.deepEqual(peerEvents, [linkUpFrom(pki.a.server)]);
    assert.deepEqual(events, [
      { type: 'INBOUND_UP', peer: 'bmc-b', connectionId: 'in-1' },
      // The first leaf seen from bmc-b is reported (the peer machine compares it with the one it noted).
      { type: 'INBOUND_PEER_LEAF', name: 'bmc-b', fingerprint: leafFingerprintOf(pki.b.client) },
    ]);
  }, { timeout: 300_000 });

  after(async () => {
    peerLink?.close();
    await responder?.close();
  }, { timeout: 120_000 });

  describe('acceptance', () => {
    it('openssl s_client with a trusted client certificate completes TLS 1.3, says Hello and reads alive', async () => {
      const run = await sClient(clientCert(pki.b.client));
      assert.ok(run.gotAlive, `no alive; stderr: ${run.stderr}`);
      assert.match(run.stderr, /Protocol version: TLSv1\.3/);
      assert.match(run.stderr, /Ciphersuite: TLS_(AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305)_SHA(256|384)/);
      assert.ok(await eventually(() => events.some((e) => e.type === 'INBOUND_DOWN' && e.connectionId !== 'in-1'), 3000));
      const up = events.find((e) => e.type === 'INBOUND_UP' && e.connectionId !== 'in-1');
      assert.equal(up?.type === 'INBOUND_UP' && up.peer, 'bmc-b', 'the link is named after the client certificate DNS SAN');
    });

    it('forced to TLS 1.2, negotiates an ECDHE + AEAD suite and works', async () => {
      const run = await sClient(['-tls1_2', ...clientCert(pki.b.client)]);
      assert.ok(run.gotAlive, run.stderr);
      assert.match(run.stderr, /Protocol version: TLSv1\.2/);
      assert.match(run.stderr, /Ciphersuite: ECDHE-ECDSA-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)/);
    });

    it('names a client without a DNS SAN by its subject CN', async () => {
      const run = await sClient(clientCert(pki.cnOnlyClient));
      assert.ok(run.gotAlive, run.stderr);
      assert.ok(events.some((e) => e.type === 'INBOUND_UP' && e.peer === 'bmc-b-cn'));
    });
  });

  describe('refusals at the handshake (no alive, no link event, the peer link untouched)', () => {
    // s_client sees `expect`; the responder logs `reason`. Node checks the client chain right after
    // OpenSSL's handshake and closes without an alert, so s_client may only see the connection end.
    const refused = /CONNECTION CLOSED BY SERVER|unexpected eof|certificate verify failed|unknown ca/i;
    const refusals: { what: string; args: () => string[]; expect: RegExp; reason: RegExp }[] = [
      { what: 'no client certificate', args: () => [], expect: /certificate required/i, reason: /peer did not return a certificate/i },
      {
        what: 'a client certificate from a CA not in the trust store',
        args: () => clientCert(pki.rogueClient),
        expect: refused,
        reason: /client certificate refused: UNABLE_TO_(GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)/,
      },
      { what: 'an expired client certificate', args: () => clientCert(pki.expiredClient), expect: refused, reason: /client certificate refused: CERT_HAS_EXPIRED/ },
      {
        what: 'a client certificate with EKU serverAuth only',
        args: () => clientCert(pki.serverOnlyClient),
        expect: refused,
        reason: /client certificate refused: INVALID_PURPOSE/,
      },
      {
        what: 'TLS 1.1 (with a client that really offers it)',
        args: () => ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0', ...clientCert(pki.b.client)],
        expect: /protocol version|unsupported protocol/i,
        reason: /unsupported protocol/i,
      },
      {
        what: 'a TLS 1.2 CBC (non-AEAD) suite',
        args: () => ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA256', ...clientCert(pki.b.client)],
        expect: /handshake failure/i,
        reason: /no shared cipher/i,
      },
    ];
    for (const r of refusals) {
      it(`refuses ${r.what}`, async () => {
        const upsBefore = events.filter((e) => e.type === 'INBOUND_UP').length;
        const failuresBefore = logFor('HANDSHAKE_FAILED').length;
        const failedBefore = inboundFailures().length;
        const run = await sClient(r.args());
        assert.equal(run.gotAlive, false, `got alive: ${run.stdout}`);
        assert.match(run.stderr, r.expect);
        assert.ok(await eventually(() => logFor('HANDSHAKE_FAILED').length > failuresBefore, 2000), 'the refusal is logged');
        const logged = logFor('HANDSHAKE_FAILED').at(-1);
        assert.match(String(logged?.['reason']), r.reason, 'the log says why');
        assert.match(String(logged?.['peer']), /^127\.0\.0\.1:\d+$/, 'and where it came from');
        assert.equal(events.filter((e) => e.type === 'INBOUND_UP').length, upsBefore, 'no INBOUND_UP');
        assert.equal(inboundFailures().length, failedBefore + 1, 'one INBOUND_FAILED');
        assert.match(inboundFailures().at(-1) ?? '', r.reason);
        assertPeerLinkUntouched();
      });
    }

    it('closes a client whose certificate has no EKU at all after the handshake, before any reply', async () => {
      const failedBefore = inboundFailures().length;
      const run = await sClient(clientCert(pki.noEkuClient));
      assert.equal(run.gotAlive, false);
      const refused = logFor('INBOUND_REFUSED').at(-1);
      assert.equal(refused?.['code'], 'ERR_PEER_EKU');
      assert.match(String(refused?.['reason']), /clientAuth/);
      assert.deepEqual(inboundFailures().slice(failedBefore), [`refused: ${String(refused?.['reason'])}`], 'one INBOUND_FAILED');
      assertPeerLinkUntouched();
    });

    it('closes a client whose certificate has an absurd validity (four years) after the handshake, and says why', async () => {
      const refusedBefore = logFor('INBOUND_REFUSED').length;
      const run = await sClient(clientCert(pki.yearsLongClient));
      assert.equal(run.gotAlive, false);
      assert.ok(await eventually(() => logFor('INBOUND_REFUSED').length > refusedBefore, 2000), 'the refusal is logged');
      const refused = logFor('INBOUND_REFUSED').at(-1);
      assert.equal(refused?.['code'], 'ERR_PEER_VALIDITY');
      assert.match(String(refused?.['reason']), /client certificate is valid for 146\d days .*, longer than any leaf a provisioningd issues \(369 days\)/);
      assertPeerLinkUntouched();
    });
  });

  describe('hostile input: only the offender is closed', () => {
    /** A trusted bmc-b TLS connection (Node), for misbehaving after the handshake. */
    async function trustedConnection(): Promise<{ socket: TLSSocket; closed: Promise<void>; received: () => string }> {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        servername: 'bmc-a',
        ca: [pki.a.ca.pem],
        key: pki.b.client.keyPem,
        cert: pki.b.client.chainPem,
      });
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((res) => socket.once('close', () => res()));
      await new Promise<void>((res, rej) => {
        socket.once('secureConnect', () => res());
        socket.once('error', rej);
      });
      return { socket, closed, received: () => received };
    }

    /** Resolves true when `closed` settles within `ms`. */
    const closesWithin = (closed: Promise<void>, ms: number) =>
      Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

    /** The reason of the next INBOUND_DOWN after the `before`-th one (waits for the server side to see the close). */
    async function nextDownReason(before: number): Promise<string | undefined> {
      const downs = () => events.filter((e) => e.type === 'INBOUND_DOWN');
      await eventually(() => downs().length > before, 3000);
      const down = downs()[before];
      return down?.type === 'INBOUND_DOWN' ? down.reason : undefined;
    }
    const downCount = () => events.filter((e) => e.type === 'INBOUND_DOWN').length;

    it('garbage bytes before the handshake', async () => {
      const raw: Socket = netConnect({ host: '127.0.0.1', port });
      raw.on('error', () => undefined);
      const closed = new Promise<void>((res) => raw.once('close', () => res()));
      raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\x16\x03\x01garbage', 'latin1'));
      assert.ok(await closesWithin(closed, 3000), 'the server closed the garbage connection');
      assert.match(String(logFor('HANDSHAKE_FAILED').at(-1)?.['reason']), /wrong version number|http request|unknown protocol|packet length/i);
      assertPeerLinkUntouched();
    });

    it('garbage bytes after the handshake (binary junk ending in a newline)', async () => {
      const c = await trustedConnection();
      const failedBefore = inboundFailures().length;
      c.socket.write(Buffer.from([0, 0xff, 0x1b, 0x5b, 0x32, 0x4a, 0x0a]));
      assert.ok(await closesWithin(c.closed, 3000));
      assert.equal(c.received(), '', 'nothing was answered');
      assert.match(String(logFor('INBOUND_CLOSED').at(-1)?.['reason']), /unknown word "\?\?\?\[2J"/);
      assert.ok(await eventually(() => inboundFailures().length > failedBefore, 3000), 'INBOUND_FAILED for a link that never came up');
      assert.match(inboundFailures().at(failedBefore) ?? '', /^closed before Hello: unknown word /);
      assertPeerLinkUntouched();
    });

    it('a 1 MB line is cut off after the limit', async () => {
      const before = downCount();
      const c = await trustedConnection();
      c.socket.write('Hello\n');
      assert.ok(await eventually(() => c.received() === 'alive\n', 2000));
      c.socket.write(Buffer.alloc(1024 * 1024, 0x41));
      assert.ok(await closesWithin(c.closed, 3000));
      assert.equal(await nextDownReason(before), 'line longer than 256 bytes');
      assertPeerLinkUntouched();
    });

    it('an unknown word after Hello', async () => {
      const before = downCount();
      const c = await trustedConnection();
      c.socket.write('Hello\nbogus\nping\n');
      assert.ok(await closesWithin(c.closed, 3000));
      assert.ok(!c.received().includes('alive\nalive'), 'nothing after the unknown word was answered');
      assert.equal(await nextDownReason(before), 'unknown word "bogus"');
      assertPeerLinkUntouched();
    });

    it('partial reads and coalesced writes are understood', async () => {
      const c = await trustedConnection();
      for (const piece of ['He', 'l', 'lo\npi', 'ng\nping\nping\n']) {
        c.socket.write(piece);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(await eventually(() => c.received() === 'alive\n'.repeat(4), 2000), `got ${JSON.stringify(c.received())}`);
      c.socket.destroy();
      await c.closed;
    });

    it('200 idle connections (slowloris) and 5 silent TLS sessions are all dropped; the peer link stays up; new peers get in after', async () => {
      const maxBefore = logFor('CONNECTION_DROPPED').length;
      const refusedBefore = logFor('HANDSHAKE_FAILED').length;
      // The silent TLS sessions first: once the raw flood fills max_connections they could not get in.
      const silent = await Promise.all(Array.from({ length: 5 }, () => trustedConnection()));
      const idle = Array.from({ length: 200 }, () => {
        const s = netConnect({ host: '127.0.0.1', port });
        s.on('error', () => undefined);
        return new Promise<void>((res) => s.once('close', () => res()));
      });
      const allClosed = Promise.all([...idle, ...silent.map((s) => s.closed)]);
      // handshake_timeout is 1 s; everything must be gone well before 5 s.
      assert.ok(await closesWithin(allClosed.then(() => undefined), 5000), 'every idle connection was closed by the server');
      assert.ok(logFor('CONNECTION_DROPPED').length > maxBefore, 'connections over max_connections were dropped at once');
      assert.ok(logFor('HANDSHAKE_FAILED').some((r) => /timed out|timeout/i.test(String(r['reason']))), 'handshake timeouts are logged');
      assert.ok(logFor('INBOUND_CLOSED').some((r) => /no Hello within 1 s/.test(String(r['reason']))));
      // 200 hostile connections do not make 200 log lines: at most one burst (20) per 10 s window.
      assert.ok(logFor('HANDSHAKE_FAILED').length - refusedBefore <= 20, `${logFor('HANDSHAKE_FAILED').length - refusedBefore} refusal lines`);
      assert.ok(logFor('CONNECTION_DROPPED').length - maxBefore <= 20, `${logFor('CONNECTION_DROPPED').length - maxBefore} drop lines`);
      assertPeerLinkUntouched();
      const run = await sClient(clientCert(pki.b.client));
      assert.ok(run.gotAlive, 'a new peer connects once the flood is gone');
    });

    it('a client that floods pings is closed after its burst allowance', async () => {
      const before = downCount();
      const c = await trustedConnection();
      const started = performance.now();
      c.socket.write(`Hello\n${'ping\n'.repeat(1000)}`);
      assert.ok(await closesWithin(c.closed, 3000));
      // A burst of 64, refilled at 64 per second over however long the 5 kB took to arrive.
      const allowance = 64 + Math.ceil((64 * (performance.now() - started)) / 1000);
      assert.ok(c.received().length <= allowance * 'alive\n'.length, `answered ${c.received().length / 6} lines, allowance ${allowance}`);
      assert.equal(await nextDownReason(before), 'flooding: more than 64 lines per second');
      assertPeerLinkUntouched();
    });

    it('dribbling bytes without a newline keeps no connection alive (TLS handshake, before Hello, after Hello)', async () => {
      // A real ClientHello, captured from Node's TLS client on a plain TCP listener.
      const clientHello = await new Promise<Buffer>((res) => {
        const catcher: NetServer = netCreateServer((c) =>
          c.once('data', (d: Buffer) => {
            res(d);
            c.destroy();
            catcher.close();
          }),
        );
        catcher.listen(0, '127.0.0.1', () => {
          const t = tlsConnect({ host: '127.0.0.1', port: (catcher.address() as { port: number }).port, rejectUnauthorized: false });
          t.on('error', () => undefined);
        });
      });
      const dribble = async (write: (chunk: string | Buffer) => void, closed: Promise<void>, data: Buffer) => {
        let done = false;
        void closed.then(() => (done = true));
        for (let i = 0; i < data.length && !done; i++) {
          write(data.subarray(i, i + 1));
          await new Promise((r) => setTimeout(r, 200));
        }
        return done;
      };
      const raw: Socket = netConnect({ host: '127.0.0.1', port });
      raw.on('error', () => undefined);
      const rawClosed = new Promise<void>((res) => raw.once('close', () => res()));
      // 1 s handshake_timeout, one byte every 200 ms: without an absolute deadline this would last minutes.
      assert.ok(await dribble((b) => raw.write(b), rawClosed, clientHello), 'handshake dribble cut off');

      const before = downCount();
      const closedBefore = logFor('INBOUND_CLOSED').length;
      const c = await trustedConnection();
      assert.ok(await dribble((b) => c.socket.write(b), c.closed, Buffer.from('Hel'.padEnd(200, 'l'))), 'Hello dribble cut off');
      assert.match(String(logFor('INBOUND_CLOSED').at(closedBefore)?.['reason']), /^no Hello within 1 s/);

      const d = await trustedConnection();
      d.socket.write('Hello\n');
      assert.ok(await dribble((b) => d.socket.write(b), d.closed, Buffer.from('p'.repeat(200))), 'idle dribble cut off');
      assert.equal(await nextDownReason(before), 'idle: no ping for 1.5 s');
      assertPeerLinkUntouched();
    });

    it('an established client that goes silent is closed after idle_timeout', async () => {
      const before = downCount();
      const c = await trustedConnection();
      c.socket.write('Hello\n');
      assert.ok(await closesWithin(c.closed, 4000));
      assert.equal(await nextDownReason(before), 'idle: no ping for 1.5 s');
      assertPeerLinkUntouched();
    });
  });

  describe('rotation: new credentials and trust without dropping the established link', () => {
    it('serves a renewed leaf to new handshakes', async () => {
      const renewed = await issueTestLeaf({
        dir: pki.dir,
        ca: pki.a.ca,
        stem: 'bmc-a-server-renewed',
        commonName: 'bmc-a',
        dnsName: 'bmc-a',
        eku: ['serverAuth'],
      });
      const current = credsA.current();
      assert.ok(current);
      credsA.set({ client: current.client, server: { ...current.server, keyPem: renewed.keyPem, certChainPem: renewed.chainPem } });
      assert.ok(await eventually(() => logFor('CONTEXT_UPDATED').length > 0, 2000));
      const served = await new Promise<string>((res, rej) => {
        const s = tlsConnect({ host: '127.0.0.1', port, servername: 'bmc-a', ca: [pki.a.ca.pem], key: pki.b.client.keyPem, cert: pki.b.client.chainPem });
        s.once('secureConnect', () => {
          res(s.getPeerCertificate().fingerprint256);
          s.destroy();
        });
        s.once('error', rej);
      });
      assert.equal(served, new X509Certificate(renewed.certPem).fingerprint256);
      assertPeerLinkUntouched();
    });

    it('reports a peer that dials with a renewed client leaf once (INBOUND_PEER_LEAF), not its same leaf again', async () => {
      const leafReports = () => events.filter((e) => e.type === 'INBOUND_PEER_LEAF' && e.name === 'bmc-b');
      assert.equal(leafReports().length, 1, 'only the first leaf so far: every earlier bmc-b client presented it');
      const renewed = await issueTestLeaf({ dir: pki.dir, ca: pki.b.ca, stem: 'bmc-b-client-renewed', commonName: 'bmc-b', dnsName: 'bmc-b', eku: ['clientAuth'] });
      for (let i = 0; i < 2; i++) {
        const run = await sClient(clientCert(renewed));
        assert.ok(run.gotAlive, `no alive; stderr: ${run.stderr}`);
      }
      assert.ok(await eventually(() => leafReports().length > 1, 3000), 'the renewed leaf is reported');
      const fingerprint = leafFingerprintOf(renewed);
      assert.deepEqual(leafReports().slice(1), [{ type: 'INBOUND_PEER_LEAF', name: 'bmc-b', fingerprint }], 'once, for two links with it');
      const up = events.findLastIndex((e) => e.type === 'INBOUND_UP' && e.peer === 'bmc-b');
      assert.ok(events.findIndex((e) => e.type === 'INBOUND_PEER_LEAF' && e.fingerprint === fingerprint) < up, 'reported with the first link that presented it, before the second came up');
      assert.ok(logFor('INBOUND_PEER_LEAF').some((r) => r['peer'] === 'bmc-b'), 'logged');
      assertPeerLinkUntouched();
    });

    it('refuses a peer whose CA left the trust store, while its established link keeps running', async () => {
      assert.equal(await trustA.remove(trustedB.fingerprint), true);
      assert.ok(await eventually(() => logFor('CONTEXT_UPDATED').some((r) => /trust store changed/.test(String(r['reason']))), 2000));
      const run = await sClient(clientCert(pki.b.client));
      assert.equal(run.gotAlive, false);
      await new Promise((r) => setTimeout(r, 300)); // several more pings of the peer link
      assertPeerLinkUntouched();
      await trustA.add(pki.b.ca.pem);
    });
  });

  it('never logs key material', () => {
    const text = JSON.stringify(serverLog.records());
    assert.doesNotMatch(text, /PRIVATE KEY/);
    assert.ok(!text.includes(pki.a.server.keyPem.split('\n')[1] ?? 'x'));
  });
});

describe('BmcResponder on two addresses: a trust change reaches every one', () => {
  const HOSTS = ['127.0.0.1', '127.0.0.2'] as const;
  let pki: TestPki;
  let trust: TrustStore;
  let trustedB: TrustedCa;
  let responder: BmcResponder;
  let port: number;
  const log = captureLog({ redact: false });
  const contextUpdates = () => log.records().filter((r) => r['event'] === 'CONTEXT_UPDATED');

  /** bmc-b's client at `host`: true when its Hello is answered with alive, false when the connection ends first. */
  function helloAnswered(host: string): Promise<boolean> {
    return new Promise((resolve) => {
      const s = tlsConnect({ host, port, servername: 'bmc-a', ca: [pki.a.ca.pem], key: pki.b.client.keyPem, cert: pki.b.client.chainPem });
      let text = '';
      const done = (answered: boolean) => {
        clearTimeout(timer);
        s.destroy();
        resolve(answered);
      };
      const timer = setTimeout(() => done(false), 5000);
      s.once('secureConnect', () => s.write('Hello\n'));
      s.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('alive\n')) done(true);
      });
      s.once('error', () => done(false));
      s.once('close', () => done(false));
    });
  }

  before(async () => {
    pki = await createTestPki();
    const cross = await crossTrust(pki);
    trust = cross.a;
    trustedB = cross.bInA;
    responder = new BmcResponder({
      port: 0,
      timings: SERVER_TIMINGS,
      maxConnections: 16,
      credentials: holderOf(pki.a),
      trust,
      log: log.log,
      onEvent: () => undefined,
    });
    const listening = await responder.listen(HOSTS);
    assert.deepEqual(listening.failed, []);
    port = listening.port;
  }, { timeout: 300_000 });

  after(async () => {
    await responder?.close();
  }, { timeout: 120_000 });

  it('a CA removed and trusted again: refused, then served, on both addresses; the context renewal logged once per change', async () => {
    for (const host of HOSTS) assert.equal(await helloAnswered(host), true, `served at ${host} while its CA is trusted`);
    assert.equal(await trust.remove(trustedB.fingerprint), true);
    assert.ok(await eventually(() => contextUpdates().length === 1, 5000), 'renewed after the removal');
    for (const host of HOSTS) assert.equal(await helloAnswered(host), false, `refused at ${host} once its CA left the store`);
    await trust.add(pki.b.ca.pem);
    assert.ok(await eventually(() => contextUpdates().length === 2, 5000), 'renewed after the CA came back');
    for (const host of HOSTS) assert.equal(await helloAnswered(host), true, `served at ${host} once its CA is trusted again`);
    assert.equal(contextUpdates().length, 2, 'one renewal logged per change, not one per address');
  });
});
