/** Verification of a responder's SPDM certificate chain against trusted roots, and the report helper. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asymByName, hashByName } from '../../src/spdm/algorithms.ts';
import { encodeCertChain, parseCertChain, verifyCertChain } from '../../src/spdm/cert-chain.ts';
import { compareMeasurements } from '../../src/spdm/compare-measurements.ts';
import { SpdmError, type SpdmErrorCode } from '../../src/spdm/spdm-error.ts';
import { createSpdmTestIdentity } from '../harness/spdm-identity.ts';

const SHA256 = hashByName('SHA_256');
const P256 = asymByName('ECDSA_P256');

function fails(f: () => unknown, code: SpdmErrorCode, message?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SpdmError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('SPDM certificate chain verification', async () => {
  const id = await createSpdmTestIdentity({ curve: 'P-256' });
  const other = await createSpdmTestIdentity({ curve: 'P-256' });
  const chainOf = (certs: Uint8Array[]) => parseCertChain(encodeCertChain(SHA256, certs), SHA256);

  it('accepts root → intermediate → leaf under its root and yields the leaf key', () => {
    const v = verifyCertChain({ chain: chainOf(id.chain), hash: SHA256, asym: P256, roots: [other.rootDer, id.rootDer] });
    assert.equal(v.certs.length, 3);
    assert.equal(v.leafKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  it('accepts a chain that starts below the root when the root is trusted', () => {
    const [, inter, leaf] = id.chain;
    assert.ok(inter && leaf);
    verifyCertChain({ chain: chainOf([inter, leaf]), hash: SHA256, asym: P256, roots: [id.rootDer] });
  });

  it('refuses another root (UNTRUSTED_CHAIN)', () => {
    fails(() => verifyCertChain({ chain: chainOf(id.chain), hash: SHA256, asym: P256, roots: [other.rootDer] }), 'UNTRUSTED_CHAIN');
  });

  it('refuses a leaf from another chain (BAD_CERTIFICATE)', () => {
    const [root, inter] = id.chain;
    const strangerLeaf = other.chain[2];
    assert.ok(root && inter && strangerLeaf);
    fails(() => verifyCertChain({ chain: chainOf([root, inter, strangerLeaf]), hash: SHA256, asym: P256, roots: [id.rootDer] }), 'BAD_CERTIFICATE', /not signed by certificate 1/);
  });

  it('refuses a certificate with a flipped signature bit (BAD_CERTIFICATE)', () => {
    const leaf = new Uint8Array(id.chain[2] ?? []);
    leaf[leaf.length - 3] = (leaf[leaf.length - 3] ?? 0) ^ 0x01;
    const [root, inter] = id.chain;
    assert.ok(root && inter);
    fails(() => verifyCertChain({ chain: chainOf([root, inter, leaf]), hash: SHA256, asym: P256, roots: [id.rootDer] }), 'BAD_CERTIFICATE');
  });

  it('refuses a RootHash that is not the hash of the first certificate', () => {
    const bytes = encodeCertChain(SHA256, id.chain);
    bytes[4] = (bytes[4] ?? 0) ^ 0xff;
    fails(() => verifyCertChain({ chain: parseCertChain(bytes, SHA256), hash: SHA256, asym: P256, roots: [id.rootDer] }), 'BAD_CERTIFICATE', /RootHash/);
  });

  it('refuses a leaf key on another curve than negotiated', () => {
    fails(() => verifyCertChain({ chain: chainOf(id.chain), hash: SHA256, asym: asymByName('ECDSA_P384'), roots: [id.rootDer] }), 'BAD_CERTIFICATE', /negotiated ECDSA_P384/);
  });

  it('refuses a chain used outside its validity', () => {
    fails(() => verifyCertChain({ chain: chainOf(id.chain), hash: SHA256, asym: P256, roots: [id.rootDer], now: new Date(Date.now() + 7 * 86_400_000) }), 'BAD_CERTIFICATE', /validity/);
  });

  it('accepts a chain within the clock-skew allowance (48 h) of its validity, either way, and not beyond', () => {
    // The test chain is valid from 1 minute ago for 24 h.
    const at = (hoursFromNow: number) => () =>
      verifyCertChain({ chain: chainOf(id.chain), hash: SHA256, asym: P256, roots: [id.rootDer], now: new Date(Date.now() + hoursFromNow * 3_600_000) });
    for (const h of [-12, -47, 12, 24 + 47]) assert.doesNotThrow(at(h), `our clock ${h} h off`);
    for (const h of [-49, 24 + 49]) fails(at(h), 'BAD_CERTIFICATE', /outside its validity period .*±48 h of clock skew/);
  });
});

describe('compareMeasurements', () => {
  const report = {
    version: '1.2',
    algorithms: { baseAsym: 'ECDSA_P256', baseHash: 'SHA_256', measurementHash: 'SHA_256' },
    certificateChain: [],
    measurements: [
      { index: 1, valueType: 1, raw: false, value: 'aabb' },
      { index: 2, valueType: 4, raw: true, value: 'cc' },
    ],
  };
  it('is empty when every index named matches, case-insensitively', () => {
    assert.deepEqual(compareMeasurements(report, { 1: 'AABB', 2: 'cc' }), []);
  });
  it('lists a differing and a missing index', () => {
    assert.deepEqual(compareMeasurements(report, { 1: 'aabc', 9: '00' }), [
      { index: 1, expected: 'aabc', actual: 'aabb' },
      { index: 9, expected: '00', actual: undefined },
    ]);
  });
});
