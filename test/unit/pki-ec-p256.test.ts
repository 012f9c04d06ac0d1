import assert from 'node:assert/strict';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { ecPointOfSpki, keyIdentifier, spkiFromEcPoint } from '../../src/pki/token/ec-p256.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

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
