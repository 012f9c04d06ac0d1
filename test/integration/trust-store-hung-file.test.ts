/**
 * The trust store on a disk that hangs: a revocation takes effect at once, whatever its queue holds
 * (the peer's link closes and a new handshake from it is refused while a read is still stuck), each
 * file call has a deadline after which the queue goes on, and a binding asked for before a
 * revocation never brings the name back, while one asked for after it does.
 * The hang is real: another process holds a write lease on one of the store's CA files, so the
 * kernel keeps the store's open() of that file waiting (test/harness/file-lease.ts).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ResponderEvent } from '../../machines/events.ts';
import { TRUST_FILE_TIMEOUT_MS, TrustStore, type TrustChange } from '../../src/pki/trust/index.ts';
import { BmcResponder } from '../../src/tls/bmc-responder.ts';
import type { LinkTimings } from '../../src/tls/link-timings.ts';
import type { TlsLinkClient } from '../../src/tls/tls-link-client.ts';
import { TimeoutError } from '../../src/util/with-timeout.ts';
import { captureLog } from '../harness/capture-log.ts';
import { eventually } from '../harness/daemon.ts';
import { holdWriteLease, leaseBreakMs, type FileLease } from '../harness/file-lease.ts';
import { dialLink } from '../harness/link-client.ts';
import { runTool } from '../harness/run-tool.ts';
import { createTestPki, holderOf, linkUpFrom, type TestPki } from '../harness/test-pki.ts';

const TIMINGS: LinkTimings = { keepaliveIntervalMs: 200, keepaliveTimeoutMs: 2000, handshakeTimeoutMs: 5000, idleTimeoutMs: 3000 };
/** Longer than the kernel lets a lease hold an open() (45 s by default): in these tests the held read does not time out. */
const NO_TIMEOUT_MS = 120_000;

/** Whether a promise has settled, checked without waiting for it. */
function tracked<T>(p: Promise<T>): { readonly promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => (done = true));
  promise.catch(() => undefined); // awaited by the test; an early rejection is not unhandled
  return { promise, settled: () => done };
}

describe('trust store on a disk that hangs', () => {
  let pki: TestPki;
  let work = '';
  const leases: FileLease[] = [];

  before(async () => {
    // The held read must outlast the store's default deadline (10 s) by far.
    assert.ok(leaseBreakMs() >= 3 * TRUST_FILE_TIMEOUT_MS, `the kernel keeps an open() of a leased file waiting ${leaseBreakMs() / 1000} s (/proc/sys/fs/lease-break-time): these tests need 30 s at least`);
    pki = await createTestPki();
    work = mkdtempSync(join(tmpdir(), 'trust-hung-'));
  }, { timeout: 300_000 });
  after(async () => {
    for (const l of leases) await l.release();
    rmSync(work, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
  }, { timeout: 120_000 });

  /**
   * A store binding rogue's CA to bmc-r and bmc-b's CA to bmc-b, then a reload whose read of bmc-r's
   * file hangs: the store's queue is held until `lease.release()`.
   */
  async function heldStore(stem: string, fileTimeoutMs = NO_TIMEOUT_MS) {
    const log = captureLog();
    const store = new TrustStore({ dir: join(work, stem), log: log.log, fileTimeoutMs });
    const held = await store.addAttested(pki.rogueCa.pem, 'bmc-r');
    const bound = await store.addAttested(pki.b.ca.pem, 'bmc-b');
    const lease = await holdWriteLease(held.file);
    leases.push(lease);
    return { store, log, bound, held, lease };
  }

  it('a revocation closes the link, refuses the handshake and drops the CA at once while a read holds the queue', async () => {
    const { store, bound, lease } = await heldStore('revoke-now');
    const serverLog = captureLog({ redact: false });
    const inbound: ResponderEvent[] = [];
    const responder = new BmcResponder({
      port: 0, host: '127.0.0.1', timings: TIMINGS, maxConnections: 8,
      credentials: holderOf(pki.a), trust: store, log: serverLog.log, onEvent: (e) => inbound.push(e),
    });
    const clients: TlsLinkClient[] = [];
    const trustB = new TrustStore({ dir: join(work, 'revoke-now-b') });
    /** Dials our responder as bmc-b; resolves with the client's events once it reported an outcome. */
    const dial = async () => {
      const { client, events } = await dialLink({ name: 'bmc-a', port, credentials: holderOf(pki.b), trust: trustB, timings: TIMINGS });
      clients.push(client);
      return events;
    };
    const port = (await responder.listen()).port;
    try {
      await trustB.add(pki.a.ca.pem);
      const linked = await dial();
      assert.deepEqual(linked, [linkUpFrom(pki.a.server)]);
      assert.ok(await eventually(() => inbound.some((e) => e.type === 'INBOUND_UP' && e.peer === 'bmc-b'), 10_000), 'bmc-b is linked in');

      const heard: TrustChange[] = [];
      store.onChange((c) => heard.push(c));
      const reloading = tracked(store.reload());
      await lease.opened; // the reload waits in open() of bmc-r's file: every queued operation waits behind it
      const revoking = tracked(store.revokeName('bmc-b'));

      // No waiting for anything here: the revocation is in effect as the call returns.
      assert.deepEqual(heard, [{ anyName: false, names: ['bmc-b'], revoked: ['bmc-b'] }], 'the listeners heard of the revocation at once');
      assert.equal(store.vouchesFor('bmc-b'), false);
      assert.ok(!store.caPems().includes(pki.b.ca.pem), "bmc-b's CA is out of the TLS context's CA list");
      const leafDer = new X509Certificate(pki.b.client.certPem).raw;
      assert.match(String(store.nameBindingRefusal(leafDer, 'bmc-b')), /no trusted CA issued the certificate for bmc-b/);
      assert.deepEqual(store.attestedNames(), ['bmc-r']);

      assert.ok(await eventually(() => linked.length > 1, 10_000), "bmc-b's established link closed");
      assert.equal(linked[1]?.type, 'LINK_DOWN');
      assert.ok(serverLog.records().some((r) => r['event'] === 'INBOUND_REVOKED' && r['peer'] === 'bmc-b'), 'the responder closed it for the revocation');
      const again = await dial();
      assert.notEqual(again[0]?.type, 'LINK_UP', 'a new handshake from bmc-b is refused');

      assert.ok(!reloading.settled() && !revoking.settled(), 'all this while the read still hangs, the file work queued behind it');
      assert.ok(existsSync(bound.file), "bmc-b's CA file is still on disk");

      await lease.release();
      await reloading.promise;
      assert.deepEqual(await revoking.promise, [bound.fingerprint], 'the file work followed');
      assert.ok(!existsSync(bound.file), "bmc-b's CA file is gone");
      const refused = await runTool('openssl', ['verify', '-no-CAfile', '-no-CAstore', '-CApath', store.dir, pki.b.client.certFile]);
      assert.notEqual(refused.code, 0, `openssl verify -CApath no longer finds bmc-b's CA: ${refused.stdout}`);
      const reread = new TrustStore({ dir: store.dir });
      await reread.reload();
      assert.deepEqual(reread.attestedNames(), ['bmc-r'], 'the files agree');
      const kept = await runTool('openssl', ['verify', '-no-CAfile', '-no-CAstore', '-CApath', store.dir, pki.rogueClient.certFile]);
      assert.equal(kept.code, 0, `openssl verify -CApath still finds the other CA: ${kept.stdout}${kept.stderr}`);
    } finally {
      await lease.release();
      for (const c of clients) c.close();
      await responder.close();
      store.close();
    }
  });

  it('a file call that hangs fails at its deadline, is logged, and the queue goes on', async () => {
    const { store, log, bound, lease } = await heldStore('deadline', TRUST_FILE_TIMEOUT_MS);
    try {
      const reloading = store.reload();
      await lease.opened;
      const late = `timed out after ${TRUST_FILE_TIMEOUT_MS} ms`;
      await assert.rejects(reloading, (e: unknown) => e instanceof TimeoutError && e.message.startsWith('reading ') && e.message.endsWith(`.pem ${late}`));
      const timeouts = log.records().filter((r) => r['event'] === 'TRUST_FILE_TIMEOUT');
      assert.equal(timeouts.length, 1, log.lines().join('\n'));
      const message = String(timeouts[0]?.['message']);
      assert.ok(message.startsWith('trust store: reading ') && message.includes(`.pem ${late} (does the disk hang?)`), message);
      assert.match(message, /the store goes on with the next one/);
      assert.deepEqual(store.attestedNames(), ['bmc-b', 'bmc-r'], 'a read that hung changes nothing in memory');

      // The read is still stuck in the kernel (the lease is held): the next operations run all the same.
      const other = await store.addAttested(pki.a.ca.pem, 'bmc-a');
      assert.deepEqual(other.attestedNames, ['bmc-a']);
      assert.deepEqual(store.attestedNames(), ['bmc-a', 'bmc-b', 'bmc-r']);
      assert.deepEqual(await store.revokeName('bmc-b'), [bound.fingerprint], 'a revocation does its file work too');
      assert.ok(!existsSync(bound.file));
      const verify = await runTool('openssl', ['verify', '-no-CAfile', '-no-CAstore', '-CApath', store.dir, pki.a.server.certFile]);
      assert.equal(verify.code, 0, `openssl verify -CApath finds the CA added meanwhile: ${verify.stdout}${verify.stderr}`);

      await lease.release();
      await store.reload();
      assert.deepEqual(store.attestedNames(), ['bmc-a', 'bmc-r'], 'once the disk answers, a full read works again');
      assert.equal(log.records().filter((r) => r['event'] === 'TRUST_FILE_TIMEOUT').length, 1, 'and nothing else timed out');
    } finally {
      await lease.release();
      store.close();
    }
  });

  it('a binding asked for before a revocation does not bind the name, one asked for after it does', async () => {
    const { store, bound, held, lease } = await heldStore('order');
    const caFile = () => readFileSync(bound.file, 'utf8');
    try {
      // An attestation that passed before the verdict: its binding waits behind the held read, then the revocation comes.
      let reloading = store.reload();
      await lease.opened;
      const older = tracked(store.addAttested(pki.b.ca.pem, 'bmc-b'));
      const revoking = store.revokeName('bmc-b');
      assert.equal(store.vouchesFor('bmc-b'), false);
      await lease.release();
      await reloading;
      await assert.rejects(older.promise, /not binding CA .* to bmc-b: the trust of bmc-b was revoked after this binding was asked for/);
      assert.deepEqual(await revoking, [bound.fingerprint]);
      assert.equal(store.vouchesFor('bmc-b'), false, 'the older binding did not bring bmc-b back');
      assert.ok(!existsSync(bound.file));

      // Bound again, then: a binding asked for before the revocation and one asked for after it share one turn.
      await store.addAttested(pki.b.ca.pem, 'bmc-b');
      const second = await holdWriteLease(held.file);
      leases.push(second);
      reloading = store.reload();
      await second.opened;
      const before2 = tracked(store.addAttested(pki.b.ca.pem, 'bmc-b'));
      const revoking2 = store.revokeName('bmc-b');
      const after2 = store.addAttested(pki.b.ca.pem, 'bmc-b');
      assert.equal(store.vouchesFor('bmc-b'), false, 'refused until the new binding is written');
      await second.release();
      await reloading;
      await assert.rejects(before2.promise, /was revoked after this binding was asked for/);
      assert.deepEqual((await after2).attestedNames, ['bmc-b'], 'the attestation asked for after the revocation binds bmc-b again');
      await revoking2;
      assert.equal(store.vouchesFor('bmc-b'), true, "the revocation's own file work, queued before it, did not undo it");
      assert.match(caFile(), /^Attested-Name: bmc-b\n/);
      const reread = new TrustStore({ dir: store.dir });
      await reread.reload();
      assert.deepEqual(reread.attestedNames(), ['bmc-b', 'bmc-r'], 'the files agree');
      const verify = await runTool('openssl', ['verify', '-no-CAfile', '-no-CAstore', '-CApath', store.dir, pki.b.client.certFile]);
      assert.equal(verify.code, 0, `openssl verify -CApath finds bmc-b's CA again: ${verify.stdout}${verify.stderr}`);

      // A store that has not read its directory yet (a daemon starting): a binding whose turn began
      // with that read, still hanging, is overtaken as well, and the read does not bring bmc-b back.
      const fresh = new TrustStore({ dir: store.dir, fileTimeoutMs: NO_TIMEOUT_MS });
      const third = await holdWriteLease(held.file);
      leases.push(third);
      const firstRead = tracked(fresh.addAttested(pki.b.ca.pem, 'bmc-b'));
      await third.opened;
      const revoking3 = fresh.revokeName('bmc-b');
      await third.release();
      await assert.rejects(firstRead.promise, /was revoked after this binding was asked for/);
      assert.deepEqual(await revoking3, [bound.fingerprint], 'the revocation found the binding on disk once the directory was read');
      assert.equal(fresh.vouchesFor('bmc-b'), false);
      assert.deepEqual(fresh.attestedNames(), ['bmc-r']);
      assert.ok(!existsSync(bound.file));
    } finally {
      await lease.release();
      store.close();
    }
  });
});
