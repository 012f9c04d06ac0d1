import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROVISIONING_CA_INDEX } from '../../src/attestationd/names.ts';
import { referenceManifestSchema, type ReferenceManifest } from '../../src/attestationd/reference-manifest.ts';
import { verifyReport, type ReportToVerify } from '../../src/attestationd/verify-report.ts';
import { makeTestCa, makeTestLeaf, type TestCa } from '../harness/openssl-test-ca.ts';

const D1 = 'aa'.repeat(32);
const D2 = 'bb'.repeat(32);
const D3 = 'cc'.repeat(32);

describe('verifyReport: signed measurements against the reference manifest', () => {
  let dir: string;
  let ca: TestCa;
  let caHex: string;
  let leafHex: string;
  const manifest: ReferenceManifest = referenceManifestSchema.parse({
    version: 1,
    measurements: [
      { index: 1, description: 'firmware', sha256: [D1] },
      { index: 2, description: 'config', sha256: [D2, D3.toUpperCase()] },
    ],
  });
  const report = (blocks: ReportToVerify['measurements'], measurementHash = 'SHA_256'): ReportToVerify => ({
    algorithms: { measurementHash },
    measurements: blocks,
  });
  const good = () => [
    { index: 1, valueType: 1, raw: false, value: D1 },
    { index: 2, valueType: 3, raw: false, value: D3 },
    { index: PROVISIONING_CA_INDEX, valueType: 3, raw: true, value: caHex },
  ];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'verify-report-'));
    ca = await makeTestCa({ dir, stem: 'ca', subject: '/CN=bmc-b Provisioning CA' });
    caHex = Buffer.from(new X509Certificate(ca.pem).raw).toString('hex');
    const leaf = await makeTestLeaf({ ca, dir, stem: 'leaf', name: 'bmc-b' });
    leafHex = Buffer.from(new X509Certificate(readFileSync(leaf)).raw).toString('hex');
  }, { timeout: 60_000 });
  after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 60_000 });

  it('accepts a report whose every measurement is a reference value, and returns the CA', () => {
    const v = verifyReport(report(good()), manifest);
    assert.equal(v.ok, true);
    assert.equal(v.ok && v.caPem, new X509Certificate(ca.pem).toString());
    assert.equal(v.ok && v.caSubject, 'CN=bmc-b Provisioning CA');
  });

  it('one mismatching digest rejects the whole report', () => {
    const blocks = good().map((b) => (b.index === 1 ? { ...b, value: D2 } : b));
    const v = verifyReport(report(blocks), manifest);
    assert.deepEqual(v, { ok: false, code: 'MEASUREMENT_MISMATCH', reason: `measurement 1 (firmware) is ${D2.slice(0, 16)}…, not one of its 1 reference digest(s)` });
  });

  it('a raw value where a digest is expected is a mismatch', () => {
    const blocks = good().map((b) => (b.index === 2 ? { ...b, raw: true } : b));
    assert.equal(verifyReport(report(blocks), manifest).ok, false);
  });

  it('a missing measurement, an unexpected one, and another hash algorithm are rejected', () => {
    assert.deepEqual(verifyReport(report(good().filter((b) => b.index !== 2)), manifest), {
      ok: false, code: 'MEASUREMENT_MISSING', reason: 'measurement 2 (config) was not reported',
    });
    const extra = verifyReport(report([...good(), { index: 7, valueType: 1, raw: false, value: D1 }]), manifest);
    assert.equal(!extra.ok && extra.code, 'MEASUREMENT_UNEXPECTED');
    const sha384 = verifyReport(report(good(), 'SHA_384'), manifest);
    assert.equal(!sha384.ok && sha384.code, 'MEASUREMENT_HASH_UNSUPPORTED');
  });

  it('the provisioning CA block must be there, raw, and a CA certificate', () => {
    const without = verifyReport(report(good().filter((b) => b.index !== PROVISIONING_CA_INDEX)), manifest);
    assert.equal(!without.ok && without.code, 'NO_PROVISIONING_CA');
    const digest = verifyReport(report(good().map((b) => (b.index === PROVISIONING_CA_INDEX ? { ...b, raw: false } : b))), manifest);
    assert.equal(!digest.ok && digest.code, 'BAD_PROVISIONING_CA');
    const leaf = verifyReport(report(good().map((b) => (b.index === PROVISIONING_CA_INDEX ? { ...b, value: leafHex } : b))), manifest);
    assert.equal(!leaf.ok && leaf.code, 'BAD_PROVISIONING_CA');
    const garbage = verifyReport(report(good().map((b) => (b.index === PROVISIONING_CA_INDEX ? { ...b, value: 'deadbeef' } : b))), manifest);
    assert.equal(!garbage.ok && garbage.code, 'BAD_PROVISIONING_CA');
  });

  it('the manifest schema refuses a non-digest, a repeated index and the CA index', () => {
    assert.equal(referenceManifestSchema.safeParse({ version: 1, measurements: [{ index: 1, sha256: ['xyz'] }] }).success, false);
    assert.equal(referenceManifestSchema.safeParse({ version: 1, measurements: [{ index: 1, sha256: [D1] }, { index: 1, sha256: [D2] }] }).success, false);
    assert.equal(referenceManifestSchema.safeParse({ version: 1, measurements: [{ index: PROVISIONING_CA_INDEX, sha256: [D1] }] }).success, false);
  });
});
