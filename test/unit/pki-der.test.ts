import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify, createPublicKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { ecdsaSignatureValue, tlv, toPem, unsignedInteger, x509Time } from '../../src/pki/certificate/der.ts';
import { ecPointOfSpki, keyIdentifier, spkiFromEcPoint } from '../../src/pki/token/ec-p256.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('DER encodings used for certificates', () => {
  it('encodes lengths in short and long form', () => {
    assert.equal(hex(tlv(0x04, new Uint8Array(3))), '0403000000');
    assert.equal(hex(tlv(0x04, new Uint8Array(200))).slice(0, 6), '0481c8');
    assert.equal(hex(tlv(0x04, new Uint8Array(300))).slice(0, 8), '0482012c');
  });

  it('encodes unsigned INTEGERs minimally and positive', () => {
    assert.equal(hex(unsignedInteger(Uint8Array.of(0x7f))), '02017f');
    assert.equal(hex(unsignedInteger(Uint8Array.of(0x80))), '02020080');
    assert.equal(hex(unsignedInteger(Uint8Array.of(0, 0, 0x12))), '020112');
    assert.equal(hex(unsignedInteger(Uint8Array.of(0, 0))), '020100');
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280)', () => {
    assert.equal(Buffer.from(x509Time(new Date('2049-12-31T23:59:59.900Z'))).toString('latin1').slice(2), '491231235959Z');
    assert.equal(x509Time(new Date('2049-12-31T23:59:59Z'))[0], 0x17);
    const g = x509Time(new Date('2050-01-01T00:00:00Z'));
    assert.equal(g[0], 0x18);
    assert.equal(Buffer.from(g).toString('latin1').slice(2), '20500101000000Z');
  });

  it('turns an IEEE P1363 ECDSA signature into a DER ECDSA-Sig-Value that verifies', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (let i = 0; i < 20; i++) {
      const data = Buffer.from(`message ${i}`);
      const rs = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      assert.equal(verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, ecdsaSignatureValue(rs)), true);
    }
    assert.throws(() => ecdsaSignatureValue(new Uint8Array(63)), RangeError);
  });

  it('armours DER as PEM with 64-character lines', () => {
    const pem = toPem(new Uint8Array(100), 'CERTIFICATE');
    const lines = pem.trimEnd().split('\n');
    assert.equal(lines[0], '-----BEGIN CERTIFICATE-----');
    assert.equal(lines.at(-1), '-----END CERTIFICATE-----');
    assert.ok(lines.slice(1, -1).every((l) => l.length <= 64));
  });
});

describe('P-256 public keys from PKCS#11', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const point = ecPointOfSpki(spki);

  it('builds the same SPKI from a DER-wrapped or a raw CKA_EC_POINT', () => {
    assert.equal(point.length, 65);
    assert.equal(hex(spkiFromEcPoint(Uint8Array.of(0x04, 0x41, ...point))), hex(spki));
    assert.equal(hex(spkiFromEcPoint(point)), hex(spki));
    assert.ok(createPublicKey({ key: Buffer.from(spkiFromEcPoint(point)), format: 'der', type: 'spki' }));
  });

  it('refuses points that are not uncompressed P-256', () => {
    assert.throws(() => spkiFromEcPoint(new Uint8Array(33)));
    assert.throws(() => ecPointOfSpki(new Uint8Array(10)));
  });

  it('derives a 20-byte key identifier', () => {
    assert.equal(keyIdentifier(spki).length, 20);
  });
});
