import { createHash } from 'node:crypto';

/** DER of the P-256 curve OID (1.2.840.10045.3.1.7): the CKA_EC_PARAMS value. */
export const P256_EC_PARAMS = Uint8Array.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);

/** SubjectPublicKeyInfo prefix for an uncompressed P-256 point (id-ecPublicKey, prime256v1, BIT STRING of 66 bytes). */
const P256_SPKI_PREFIX = Uint8Array.from([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
  0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
]);

/** Uncompressed point length: 0x04 || X || Y. */
const POINT_LENGTH = 65;

/**
 * SPKI DER from a PKCS#11 CKA_EC_POINT, which modules return either DER-wrapped in an OCTET STRING
 * (the standard, SoftHSM and tpm2-pkcs11) or raw.
 */
export function spkiFromEcPoint(ecPoint: Uint8Array): Uint8Array {
  let point = ecPoint;
  if (point.length === POINT_LENGTH + 2 && point[0] === 0x04 && point[1] === POINT_LENGTH) point = point.subarray(2);
  if (point.length !== POINT_LENGTH || point[0] !== 0x04) {
    throw new Error(`CKA_EC_POINT is not an uncompressed P-256 point (${ecPoint.length} bytes)`);
  }
  const spki = new Uint8Array(P256_SPKI_PREFIX.length + POINT_LENGTH);
  spki.set(P256_SPKI_PREFIX);
  spki.set(point, P256_SPKI_PREFIX.length);
  return spki;
}

/** The uncompressed point inside a P-256 SPKI. */
export function ecPointOfSpki(spki: Uint8Array): Uint8Array {
  const prefixOk = spki.length === P256_SPKI_PREFIX.length + POINT_LENGTH && P256_SPKI_PREFIX.every((b, i) => spki[i] === b);
  if (!prefixOk) throw new Error('not a P-256 SubjectPublicKeyInfo');
  return spki.subarray(P256_SPKI_PREFIX.length);
}

/** RFC 5280 key identifier (method 1): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(ecPointOfSpki(spki)).digest());
}
