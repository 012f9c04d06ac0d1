/**
 * Reads the top levels of an X.509 certificate's DER (RFC 5280 4.1), so tests can compare each
 * field with what it should be. Only what the tests need: definite lengths, no validation beyond
 * the structure.
 */
import assert from 'node:assert/strict';

/** ecdsa-with-SHA256 AlgorithmIdentifier, no parameters (RFC 5758), as hex. */
export const ECDSA_WITH_SHA256_HEX = '300a06082a8648ce3d040302';

/** One DER element: its tag, where its content starts and where it (and the content) ends. */
export interface DerElement {
  readonly tag: number;
  readonly at: number;
  readonly start: number;
  readonly end: number;
}

/** The DER element starting at `at`. */
export function derElement(der: Uint8Array, at: number): DerElement {
  const tag = der[at] ?? -1;
  const first = der[at + 1] ?? 0;
  if (first < 0x80) return { tag, at, start: at + 2, end: at + 2 + first };
  let len = 0;
  for (let i = 0; i < (first & 0x7f); i++) len = len * 256 + (der[at + 2 + i] ?? 0);
  const start = at + 2 + (first & 0x7f);
  return { tag, at, start, end: start + len };
}

/** The elements inside a constructed element, in order. */
export function derChildren(der: Uint8Array, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const e = derElement(der, at);
    out.push(e);
    at = e.end;
  }
  assert.equal(out.at(-1)?.end ?? parent.start, parent.end, 'children fill their parent exactly');
  return out;
}

/** A certificate split into its parts (each the whole DER element, header included). */
export interface CertificateDer {
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: Uint8Array;
  /** The signature BIT STRING's content after the unused-bits octet: an ECDSA-Sig-Value for ECDSA. */
  readonly signature: Uint8Array;
  /** TBSCertificate fields. */
  readonly version: Uint8Array;
  readonly serial: Uint8Array;
  readonly tbsSignature: Uint8Array;
  readonly issuer: Uint8Array;
  readonly validity: Uint8Array;
  readonly subject: Uint8Array;
  readonly spki: Uint8Array;
  /** The content of the [3] Extensions SEQUENCE: the Extension elements, concatenated. */
  readonly extensions: Uint8Array;
}

/** Splits a v3 certificate with extensions into its parts, asserting the structure on the way. */
export function certificateDer(der: Uint8Array): CertificateDer {
  const cert = derElement(der, 0);
  assert.equal(cert.tag, 0x30, 'Certificate is a SEQUENCE');
  assert.equal(cert.end, der.length, 'nothing after the Certificate');
  const [tbs, alg, sig, ...rest] = derChildren(der, cert);
  assert.ok(tbs && alg && sig && rest.length === 0, 'Certificate has three parts');
  assert.equal(sig.tag, 0x03, 'signatureValue is a BIT STRING');
  assert.equal(der[sig.start], 0, 'no unused bits');
  const fields = derChildren(der, tbs);
  assert.equal(fields.length, 8, 'TBSCertificate: version, serial, signature, issuer, validity, subject, key, extensions');
  const [version, serial, tbsSignature, issuer, validity, subject, spki, exts] = fields.map((f) => der.subarray(f.at, f.end));
  const extsElement = fields[7];
  assert.ok(version && serial && tbsSignature && issuer && validity && subject && spki && exts && extsElement);
  assert.equal(extsElement.tag, 0xa3, 'extensions are [3]');
  const [extSeq] = derChildren(der, extsElement);
  assert.ok(extSeq);
  return {
    tbs: der.subarray(tbs.at, tbs.end),
    signatureAlgorithm: der.subarray(alg.at, alg.end),
    signature: der.subarray(sig.start + 1, sig.end),
    version,
    serial,
    tbsSignature,
    issuer,
    validity,
    subject,
    spki,
    extensions: der.subarray(extSeq.start, extSeq.end),
  };
}
