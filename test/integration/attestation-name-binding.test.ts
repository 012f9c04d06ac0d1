/**
 * The trust store's name binding over real TLS and the openssl tool: a CA installed by attestation
 * vouches only for the name it was attested for, on both ends of the link; a CA placed by hand
 * still vouches for any name (the behaviour the other tls-* tests rely on).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LinkEvent, ResponderEvent } from '../../machines/events.ts';
import { CredentialHolder } from '../../src/pki/certificate/tls-credentials.ts';
import { TrustStore, TrustStoreError } from '../../src/pki/trust/index.ts';
import { BmcResponder } from '../../src/tls/bmc-responder.ts';
import type { LinkTimings } from '../../src/tls/link-timings.ts';
import { TlsLinkClient } from '../../src/tls/tls-link-client.ts';
import { captureLog } from '../harness/capture-log.ts';
import { eventually } from '../harness/daemon.ts';
import { mustRun, runTool } from '../harness/run-tool.ts';
import { createTestPki, holderOf, issueTestLeaf, type TestLeaf, type TestPki, linkUpFrom } from '../harness/test-pki.ts';

const TIMINGS: LinkTimings = { keepaliveIntervalMs: 200, keepaliveTimeoutMs: 2000, handshakeTimeoutMs: 5000, idleTimeoutMs: 3000 };

describe('attested CAs are bound to the attested name', () => {
  let pki: TestPki;
  let work: string;
  /** A leaf from bmc-b's CA that names bmc-c (both EKUs): what a compromised bmc-b could mint. */
  let bAsC: TestLeaf;

  before(async () => {
    pki = await createTestPki();
    work = mkdtempSync(join(tmpdir(), 'att-bind-'));
    bAsC = await issueTestLeaf({
      dir: pki.dir, ca: pki.b.ca, stem: 'b-as-c', commonName: 'bmc-c', dnsName: 'bmc-c', eku: ['serverAuth', 'clientAuth'],
    });
  }, { timeout: 300_000 });
  after(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
  }, { timeout: 120_000 });

  it('addAttested writes the binding and the certificate in one file that openssl verify -CApath still reads', async () => {
    const dir = join(work, 'store-1');
    const store = new TrustStore({ dir });
    const ca = await store.addAttested(pki.b.ca.pem, 'bmc-b');
    assert.deepEqual(ca.attestedNames, ['bmc-b']);
    const text = readFileSync(ca.file, 'utf8');
    assert.match(text, /^Attested-Name: bmc-b\n-----BEGIN CERTIFICATE-----/);
    const verify = await runTool('openssl', ['verify', '-no-CAfile', '-no-CAstore', '-CApath', dir, pki.b.client.certFile]);
    assert.equal(verify.code, 0, verify.stderr);
    // A fresh store reads the binding back from the file.
    const again = new TrustStore({ dir });
    const [listed] = await again.list();
    assert.deepEqual(listed?.attestedNames, ['bmc-b']);
    assert.equal(again.nameBindingRefusal(derOf(pki.b.client.certPem), 'bmc-b'), undefined);
    assert.match(again.nameBindingRefusal(derOf(bAsC.certPem), 'bmc-c') ?? '', /names bmc-c, but its CA was attested for bmc-b only/);
  });

  it('a CA placed by hand vouches for any name, as before', async () => {
    const dir = join(work, 'store-2');
    const store = new TrustStore({ dir });
    await store.reload();
    copyFileSync(pki.b.ca.certFile, join(dir, 'bmc-b-ca.pem'));
    const [listed] = await store.list();
    assert.equal(listed?.attestedNames, undefined);
    assert.equal(store.nameBindingRefusal(derOf(bAsC.certPem), 'bmc-c'), undefined);
    // Attesting it later narrows it: the binding in the canonical file limits the CA.
    await store.addAttested(pki.b.ca.pem, 'bmc-b');
    assert.match(store.nameBindingRefusal(derOf(bAsC.certPem), 'bmc-c') ?? '', /attested for bmc-b only/);
  });

  it('refuses a name that is not a host name and bad PEMs, writing nothing', async () => {
    const dir = join(work, 'store-3');
    const store = new TrustStore({ dir });
    await store.reload();
    await assert.rejects(store.addAttested(pki.b.ca.pem, 'bmc b\nAttested-Name: bmc-c'), (e: unknown) => e instanceof TrustStoreError && e.code === 'BAD_NAME');
    await assert.rejects(store.addAttested(pki.b.client.certPem, 'bmc-b'), (e: unknown) => e instanceof TrustStoreError && e.code === 'NOT_A_CA');
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a name ProvisionPeer accepts reads back bound after a restart, whatever its last character', async () => {
    const dir = join(work, 'store-5');
    await new TrustStore({ dir }).addAttested(pki.b.ca.pem, 'bmc-');
    const again = new TrustStore({ dir });
    const [listed] = await again.list();
    assert.deepEqual(listed?.attestedNames, ['bmc-'], 'bound, not placed by hand');
    assert.match(again.nameBindingRefusal(derOf(bAsC.certPem), 'bmc-c') ?? '', /attested for bmc- only/);
  });

  it('a CA file whose binding line names no peer is not trusted at all (one line says why), and the rest of the store works', async () => {
    const dir = join(work, 'store-6');
    const storeLog = captureLog({ redact: false });
    const store = new TrustStore({ dir, log: storeLog.log });
    await store.addAttested(pki.a.ca.pem, 'bmc-a');
    // Hand-edited: a binding no reader could take for a name. Read as no binding, the CA would vouch for any name.
    writeFileSync(join(dir, 'edited.pem'), `Attested-Name: bmc b\r\n${pki.b.ca.pem}`, { mode: 0o644 });
    await store.reload();
    assert.deepEqual((await store.list()).map((c) => c.attestedNames), [['bmc-a']], 'only the well-bound CA is trusted');
    assert.equal(store.nameScopeFor(new X509Certificate(derOf(bAsC.certPem))), undefined, "bmc-b's CA vouches for nothing");
    const skipped = storeLog.records().filter((r) => r['event'] === 'CA_FILE_SKIPPED');
    assert.equal(skipped.length, 1, storeLog.lines().join('\n'));
    assert.match(String(skipped[0]?.['message']), /edited\.pem: an Attested-Name line names no peer \("bmc b"\)/);
    await store.reload();
    assert.equal(storeLog.records().filter((r) => r['event'] === 'CA_FILE_SKIPPED').length, 1, 'said once, not at every read');
  });

  it('a newly attested CA for a name replaces the CA that was bound to that name alone', async () => {
    const dir = join(work, 'store-4');
    const store = new TrustStore({ dir });
    await store.addAttested(pki.rogueCa.pem, 'bmc-b');
    await store.addAttested(pki.b.ca.pem, 'bmc-b');
    const listed = await store.list();
    assert.deepEqual(listed.map((c) => c.subject), ['CN=bmc-b Provisioning CA']);
  });

  describe('over TLS', () => {
    let trustA: TrustStore;
    let responder: BmcResponder;
    let port: number;
    const serverLog = captureLog({ redact: false });
    const inbound: ResponderEvent[] = [];
    const clients: TlsLinkClient[] = [];

    before(async () => {
      trustA = new TrustStore({ dir: join(work, 'a-authority') });
      await trustA.addAttested(pki.b.ca.pem, 'bmc-b');
      responder = new BmcResponder({
        port: 0, host: '127.0.0.1', timings: TIMINGS, maxConnections: 8,
        credentials: holderOf(pki.a), trust: trustA, log: serverLog.log, onEvent: (e) => inbound.push(e),
      });
      port = (await responder.listen()).port;
    }, { timeout: 300_000 });
    after(async () => {
      for (const c of clients) c.close();
      await responder.close();
    }, { timeout: 120_000 });

    /** Dials `port` as the holder of `credentials`, expecting a server named `name`; resolves with the first event. */
    async function dial(opts: { name: string; port: number; credentials: CredentialHolder; trust: TrustStore }): Promise<LinkEvent> {
      const events: LinkEvent[] = [];
      const client = new TlsLinkClient({
        target: { name: opts.name, address: '127.0.0.1', port: opts.port },
        timings: TIMINGS, credentials: opts.credentials, trust: opts.trust, log: captureLog().log,
        onEvent: (e) => events.push(e),
      });
      clients.push(client);
      client.start();
      assert.ok(await eventually(() => events.length > 0, 10_000), 'the client reported an outcome');
      const [first] = events;
      assert.ok(first);
      return first;
    }

    it('the responder accepts bmc-b from its attested CA and refuses a bmc-c leaf from the same CA', async () => {
      const trustB = new TrustStore({ dir: join(work, 'b-authority') });
      await trustB.add(pki.a.ca.pem);
      assert.deepEqual(await dial({ name: 'bmc-a', port, credentials: holderOf(pki.b), trust: trustB }), linkUpFrom(pki.a.server));
      assert.ok(await eventually(() => inbound.some((e) => e.type === 'INBOUND_UP' && e.peer === 'bmc-b'), 5000));

      const asC = new CredentialHolder();
      const cCreds = { keyPem: bAsC.keyPem, certChainPem: bAsC.chainPem, caPem: pki.b.ca.pem, notAfter: bAsC.notAfter };
      asC.set({ server: cCreds, client: cCreds });
      const refused = await dial({ name: 'bmc-a', port, credentials: asC, trust: trustB });
      assert.notEqual(refused.type, 'LINK_UP');
      assert.ok(
        await eventually(() => serverLog.records().some((r) => r['event'] === 'INBOUND_REFUSED' && r['code'] === 'ERR_PEER_NAME_NOT_BOUND'), 5000),
        'the responder says why',
      );
      assert.equal(inbound.filter((e) => e.type === 'INBOUND_UP' && e.peer === 'bmc-c').length, 0, 'no link named bmc-c');
    });

    it('the client refuses a server that presents a bmc-c leaf from a CA attested for bmc-b (LINK_REJECTED)', async () => {
      const asC = new CredentialHolder();
      const cCreds = { keyPem: bAsC.keyPem, certChainPem: bAsC.chainPem, caPem: pki.b.ca.pem, notAfter: bAsC.notAfter };
      asC.set({ server: cCreds, client: cCreds });
      const trustC = new TrustStore({ dir: join(work, 'c-authority') });
      await trustC.add(pki.a.ca.pem);
      const fakeC = new BmcResponder({
        port: 0, host: '127.0.0.1', timings: TIMINGS, maxConnections: 8,
        credentials: asC, trust: trustC, log: captureLog().log, onEvent: () => undefined,
      });
      const fakePort = (await fakeC.listen()).port;
      try {
        const event = await dial({ name: 'bmc-c', port: fakePort, credentials: holderOf(pki.a), trust: trustA });
        assert.equal(event.type, 'LINK_REJECTED');
        assert.match(event.type === 'LINK_REJECTED' ? event.reason : '', /attested for bmc-b only/);
        // The same server leaf is fine once its CA is trusted by hand (unbound): the old behaviour.
        const handTrust = new TrustStore({ dir: join(work, 'hand-authority') });
        await handTrust.add(pki.b.ca.pem);
        assert.deepEqual(await dial({ name: 'bmc-c', port: fakePort, credentials: holderOf(pki.a), trust: handTrust }), linkUpFrom({ certPem: bAsC.certPem }));
      } finally {
        await fakeC.close();
      }
    });

    // Last: it takes bmc-b's trust away.
    it('revoking bmc-b closes its established inbound link at once, refuses it afterwards, and keeps the file state consistent', async () => {
      const trustB = new TrustStore({ dir: join(work, 'b-revoke-authority') });
      await trustB.add(pki.a.ca.pem);
      const events: LinkEvent[] = [];
      const client = new TlsLinkClient({
        target: { name: 'bmc-a', address: '127.0.0.1', port },
        timings: TIMINGS, credentials: holderOf(pki.b), trust: trustB, log: captureLog().log,
        onEvent: (e) => events.push(e),
      });
      clients.push(client);
      client.start();
      assert.ok(await eventually(() => events.length > 0, 10_000), 'the link came up');
      assert.deepEqual(events, [linkUpFrom(pki.a.server)]);
      const removed = await trustA.revokeName('bmc-b');
      assert.equal(removed.length, 1, 'the CA attested for bmc-b lost its binding');
      assert.ok(!trustA.attestedNames().includes('bmc-b'));
      assert.ok(await eventually(() => events.length > 1, 5000), 'the client saw its link closed');
      assert.equal(events[1]?.type, 'LINK_DOWN');
      assert.ok(
        serverLog.records().some((r) => r['event'] === 'INBOUND_REVOKED' && r['peer'] === 'bmc-b'),
        'the responder says why it closed the link',
      );
      const again = await dial({ name: 'bmc-a', port, credentials: holderOf(pki.b), trust: trustB });
      assert.notEqual(again.type, 'LINK_UP', 'a revoked peer is refused');
      assert.deepEqual(await trustA.revokeName('bmc-b'), [], 'revoking again changes nothing');
      const reread = new TrustStore({ dir: trustA.dir });
      assert.ok(!(await reread.list()).some((ca) => ca.attestedNames?.includes('bmc-b')), 'the revocation is on disk');
    });

    /**
     * A responder of its own whose trust store (a-`stem`-authority) binds bmc-b's CA to bmc-b, with
     * bmc-b's link to it up; `close` stops both.
     */
    async function ownResponderLinked(stem: string) {
      const storeLog = captureLog();
      const log = captureLog();
      const trust = new TrustStore({ dir: join(work, `a-${stem}-authority`), log: storeLog.log });
      const bound = await trust.addAttested(pki.b.ca.pem, 'bmc-b');
      const events: ResponderEvent[] = [];
      const own = new BmcResponder({
        port: 0, host: '127.0.0.1', timings: TIMINGS, maxConnections: 8,
        credentials: holderOf(pki.a), trust, log: log.log, onEvent: (e) => events.push(e),
      });
      const close = async () => {
        trust.close();
        await own.close();
      };
      try {
        const ownPort = (await own.listen()).port;
        const trustB = new TrustStore({ dir: join(work, `b-${stem}-authority`) });
        await trustB.add(pki.a.ca.pem);
        const linkEvents: LinkEvent[] = [];
        const client = new TlsLinkClient({
          target: { name: 'bmc-a', address: '127.0.0.1', port: ownPort },
          timings: TIMINGS, credentials: holderOf(pki.b), trust: trustB, log: captureLog().log,
          onEvent: (e) => linkEvents.push(e),
        });
        clients.push(client);
        client.start();
        assert.ok(await eventually(() => linkEvents.length > 0 && events.some((e) => e.type === 'INBOUND_UP'), 10_000), 'the link came up');
        return { storeLog, log, trust, bound, ownPort, trustB, linkEvents, close };
      } catch (err) {
        await close();
        throw err;
      }
    }

    it("revoking bmc-b closes its inbound link and refuses it even when the trust store cannot write its hash links", async () => {
      const { storeLog, log, trust, ownPort, trustB, linkEvents, close } = await ownResponderLinked('blocked');
      try {
        // Something not ours holds the name of bmc-b's CA's hash link: removing the link fails (EISDIR).
        const [link = ''] = readdirSync(trust.dir).filter((n) => /^[0-9a-f]{8}\.0$/.test(n));
        unlinkSync(join(trust.dir, link));
        mkdirSync(join(trust.dir, link));
        writeFileSync(join(trust.dir, link, 'not-ours'), 'x');

        assert.equal((await trust.revokeName('bmc-b')).length, 1, 'the revocation took place');
        assert.ok(storeLog.records().some((r) => r['event'] === 'TRUST_LINKS_FAILED'), storeLog.lines().join('\n'));
        assert.ok(await eventually(() => linkEvents.length > 1, 10_000), 'the client saw its link closed');
        assert.equal(linkEvents[1]?.type, 'LINK_DOWN');
        assert.ok(log.records().some((r) => r['event'] === 'INBOUND_REVOKED' && r['peer'] === 'bmc-b'), 'the responder closed the link for the revocation');
        assert.ok(await eventually(() => log.records().some((r) => r['event'] === 'CONTEXT_UPDATED'), 10_000), 'and renewed its TLS context');
        const again = await dial({ name: 'bmc-a', port: ownPort, credentials: holderOf(pki.b), trust: trustB });
        assert.notEqual(again.type, 'LINK_UP', 'a revoked peer is refused');
      } finally {
        await close();
      }
    });

    it('revoking bmc-b closes its inbound link and refuses it at once even when its CA file cannot be removed', async () => {
      const { storeLog, log, trust, bound, ownPort, trustB, linkEvents, close } = await ownResponderLinked('immutable');
      let blocked = '';
      try {
        // Not even root may delete an immutable file (EPERM).
        blocked = bound.file;
        await mustRun('chattr', ['+i', blocked]);

        await assert.rejects(trust.revokeName('bmc-b'), /EPERM|not permitted/, 'the failure is reported: the peer machine retries');
        assert.ok(storeLog.records().some((r) => r['event'] === 'CA_REVOKE_FILE_FAILED'), storeLog.lines().join('\n'));
        assert.ok(await eventually(() => linkEvents.length > 1, 10_000), 'the client saw its link closed');
        assert.equal(linkEvents[1]?.type, 'LINK_DOWN');
        assert.ok(log.records().some((r) => r['event'] === 'INBOUND_REVOKED' && r['peer'] === 'bmc-b'), 'the responder closed the link for the revocation');
        await trust.reload();
        const again = await dial({ name: 'bmc-a', port: ownPort, credentials: holderOf(pki.b), trust: trustB });
        assert.notEqual(again.type, 'LINK_UP', 'a revoked peer is refused, its CA file still on disk');

        await mustRun('chattr', ['-i', blocked]);
        assert.deepEqual(await trust.revokeName('bmc-b'), [bound.fingerprint], 'the retry removes the file');
        assert.deepEqual(readdirSync(trust.dir).filter((n) => n.endsWith('.pem')), [], 'the CA file is gone');
      } finally {
        if (blocked) await runTool('chattr', ['-i', blocked]);
        await close();
      }
    });
  });
});

function derOf(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(body, 'base64'));
}
