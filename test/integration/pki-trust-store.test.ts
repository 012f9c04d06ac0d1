import assert from 'node:assert/strict';
import { copyFileSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TrustStore, TrustStoreError } from '../../src/pki/trust/index.ts';
import { makeTestCa, makeTestLeaf, type TestCa } from '../harness/openssl-test-ca.ts';
import { runTool, mustRun } from '../harness/run-tool.ts';

/** `openssl verify -CApath dir` with no other trust source: exit 0 means the leaf chains to a trusted CA. */
async function verifyWithCApath(dir: string, leaf: string): Promise<boolean> {
  const r = await runTool('openssl', ['verify', '-no-CAfile', '-no-CAstore', '-CApath', dir, leaf]);
  return r.code === 0;
}

function hashLinks(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir)) {
    if (/^[0-9a-f]{8}\.\d+$/.test(n)) out[n] = readlinkSync(join(dir, n));
  }
  return out;
}

describe('trust store (trust_dir)', () => {
  let work: string;
  let caA: TestCa;
  let caB: TestCa;
  let twinA: TestCa; // a different CA with the same subject as caA: same subject hash
  let notCa: TestCa;
  let leafA: string;
  let leafB: string;
  let leafTwin: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pki-trust-'));
    [caA, caB, twinA, notCa] = await Promise.all([
      makeTestCa({ dir: work, stem: 'ca-a', subject: '/CN=bmc-a Provisioning CA' }),
      makeTestCa({ dir: work, stem: 'ca-b', subject: '/CN=bmc-b Provisioning CA' }),
      makeTestCa({ dir: work, stem: 'ca-a-twin', subject: '/CN=bmc-a Provisioning CA' }),
      makeTestCa({ dir: work, stem: 'not-ca', subject: '/CN=just a leaf', notCa: true }),
    ]);
    [leafA, leafB, leafTwin] = await Promise.all([
      makeTestLeaf({ ca: caA, dir: work, stem: 'leaf-a', name: 'bmc-a' }),
      makeTestLeaf({ ca: caB, dir: work, stem: 'leaf-b', name: 'bmc-b' }),
      makeTestLeaf({ ca: twinA, dir: work, stem: 'leaf-twin', name: 'bmc-a' }),
    ]);
  }, { timeout: 300_000 });

  after(() => rmSync(work, { recursive: true, force: true }), { timeout: 120_000 });

  it('creates a missing directory 0700 (its parents too) and starts empty', async () => {
    const dir = join(work, 'fresh/state/trust');
    const store = new TrustStore({ dir });
    await store.reload();
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(work, 'fresh/state')).mode & 0o777, 0o700);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(store.caPems(), []);
  });

  it('add() trusts a CA: openssl verify -CApath accepts its leaf and refuses an untrusted CA’s leaf', async () => {
    const dir = join(work, 'add');
    const store = new TrustStore({ dir });
    let changes = 0;
    store.onChange(() => changes++);
    const ca = await store.add(caA.pem);

    const der = await mustRun('openssl', ['x509', '-in', caA.certFile, '-outform', 'DER', '-noout', '-fingerprint', '-sha256']);
    const expectedFp = der.trim().split('=')[1]?.replace(/:/g, '').toLowerCase();
    assert.equal(ca.fingerprint, expectedFp);
    assert.equal(ca.subject, 'CN=bmc-a Provisioning CA');
    assert.equal(ca.file, join(dir, `${expectedFp}.pem`));
    assert.equal(statSync(ca.file).mode & 0o777, 0o644);
    const hash = (await mustRun('openssl', ['x509', '-in', caA.certFile, '-noout', '-subject_hash'])).trim();
    assert.deepEqual(hashLinks(dir), { [`${hash}.0`]: `${expectedFp}.pem` });

    assert.equal(await verifyWithCApath(dir, leafA), true, 'leaf of the trusted CA verifies');
    assert.equal(await verifyWithCApath(dir, leafB), false, 'leaf of an untrusted CA is refused');
    assert.equal(changes, 1);
    assert.deepEqual(store.caPems(), [ca.pem]);

    const again = await store.add(caA.pem);
    assert.deepEqual(again, ca, 'adding the same CA again is idempotent');
    assert.equal(changes, 1, 'no change event for an idempotent add');
    assert.equal(readdirSync(dir).length, 2, 'one PEM and one link, nothing more');
  });

  it('handles subject-hash collisions and keeps the link indexes dense after a removal', async () => {
    const dir = join(work, 'collide');
    const store = new TrustStore({ dir });
    const a = await store.add(caA.pem);
    const twin = await store.add(twinA.pem);
    const b = await store.add(caB.pem);
    const hash = (await mustRun('openssl', ['x509', '-in', caA.certFile, '-noout', '-subject_hash'])).trim();
    const links = hashLinks(dir);
    assert.equal(links[`${hash}.0`], `${a.fingerprint}.pem`);
    assert.equal(links[`${hash}.1`], `${twin.fingerprint}.pem`);
    assert.equal(Object.keys(links).length, 3);
    for (const leaf of [leafA, leafTwin, leafB]) assert.equal(await verifyWithCApath(dir, leaf), true, leaf);

    assert.equal(await store.remove(a.fingerprint), true);
    assert.equal(existsSync(a.file), false);
    const after = hashLinks(dir);
    assert.equal(after[`${hash}.0`], `${twin.fingerprint}.pem`, 'the twin moves down to .0 so OpenSSL still finds it');
    assert.equal(after[`${hash}.1`], undefined);
    assert.equal(await verifyWithCApath(dir, leafA), false, 'removed CA no longer trusted');
    assert.equal(await verifyWithCApath(dir, leafTwin), true, 'the twin with the same subject is still trusted');
    assert.equal(await verifyWithCApath(dir, leafB), true);
    assert.deepEqual(
      (await store.list()).map((c) => c.fingerprint).sort(),
      [twin.fingerprint, b.fingerprint].sort(),
    );
    // Colon-separated upper case is accepted too; a second removal reports false.
    assert.equal(await store.remove(b.fingerprint.toUpperCase().replace(/(..)(?!$)/g, '$1:')), true);
    assert.equal(await store.remove(b.fingerprint), false);
  });

  it('refuses bad input with a clear error and writes nothing', async () => {
    const dir = join(work, 'bad');
    const store = new TrustStore({ dir });
    await store.reload();
    const cases: [string, string][] = [
      [notCa.pem, 'NOT_A_CA'],
      ['hello', 'NOT_ONE_CERTIFICATE'],
      [caA.pem + caB.pem, 'NOT_ONE_CERTIFICATE'],
      [readFileSync(caA.keyFile, 'utf8') + caA.pem, 'CONTAINS_PRIVATE_KEY'],
      ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'NOT_ONE_CERTIFICATE'],
    ];
    for (const [pem, code] of cases) {
      await assert.rejects(store.add(pem), (err: unknown) => {
        assert.ok(err instanceof TrustStoreError);
        assert.equal(err.code, code);
        assert.ok(err.message.length > 10);
        return true;
      });
    }
    assert.deepEqual(readdirSync(dir), []);
  });

  it('picks up PEMs an operator placed by hand (reload and watch), and links them', async () => {
    const dir = join(work, 'manual');
    const store = new TrustStore({ dir });
    await store.reload();
    copyFileSync(caB.certFile, join(dir, 'operator-b.pem'));
    copyFileSync(notCa.certFile, join(dir, 'not-a-ca.pem'));
    await store.reload();
    const list = await store.list();
    assert.equal(list.length, 1, 'the non-CA file is ignored');
    assert.equal(list[0]?.file, join(dir, 'operator-b.pem'));
    assert.equal(await verifyWithCApath(dir, leafB), true);
    assert.equal(await verifyWithCApath(dir, leafA), false);

    store.watch();
    try {
      const changed = new Promise<void>((resolve) => {
        const off = store.onChange(() => {
          off();
          resolve();
        });
      });
      copyFileSync(caA.certFile, join(dir, 'operator-a.crt'));
      await changed;
      assert.equal(store.caPems().length, 2);
      assert.equal(await verifyWithCApath(dir, leafA), true);
    } finally {
      store.close();
    }
    // A hand-deleted CA leaves no dangling link behind after the next reload.
    rmSync(join(dir, 'operator-b.pem'));
    await store.reload();
    for (const target of Object.values(hashLinks(dir))) assert.ok(existsSync(join(dir, target)), target);
    assert.ok(lstatSync(dir).isDirectory());
    assert.equal(store.caPems().length, 1);
  });
});
