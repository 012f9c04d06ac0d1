import { generateKeyPairSync } from 'node:crypto';
import type { IssuingCa } from './ca-certificate.ts';
import { signedCertificate, subjectKeyIdentifierExtension, tbsCertificate } from './certificate-assembly.ts';
import { randomSerial } from './certificate-serial.ts';
import { toPem } from './der.ts';
import { type CaKeyToken, keyIdentifier } from '../token/index.ts';
import { signVerified } from './verified-signature.ts';

/** Most a leaf's notBefore is set in the past for peers whose clocks lag (also capped at a tenth of the lifetime). */
export const LEAF_MAX_BACKDATE_MS = 5 * 60_000;

/** A freshly issued leaf: its private key exists only in this object (memory), never on disk. */
export interface IssuedLeaf {
  /** PKCS#8 PEM of the leaf private key. */
  readonly keyPem: string;
  readonly certPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Which CA issues the leaf, with which token, for how long. */
export interface LeafRequest {
  readonly ca: IssuingCa;
  readonly token: CaKeyToken;
  readonly lifetimeMs: number;
}

/**
 * Generates an ECDSA P-256 key pair in memory and has the token CA certify it: valid from
 * now − min(5 min, lifetime/10) to now + lifetime (never past the CA's notAfter), random serial.
 */
export async function issueLeaf(req: LeafRequest): Promise<IssuedLeaf> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const now = Date.now();
  const backdate = Math.min(LEAF_MAX_BACKDATE_MS, req.lifetimeMs / 10);
  const notBefore = new Date(Math.floor((now - backdate) / 1000) * 1000);
  const notAfter = new Date(Math.min(Math.floor((now + req.lifetimeMs) / 1000) * 1000, req.ca.notAfter.getTime()));
  const tbs = tbsCertificate(req.ca.leafProfile, {
    serial: randomSerial(),
    notBefore,
    notAfter,
    spki,
    extensions: [subjectKeyIdentifierExtension(keyIdentifier(spki))],
  });
  const signature = await signVerified({ token: req.token, data: tbs, publicKey: req.ca.publicKey });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: toPem(signedCertificate(tbs, signature), 'CERTIFICATE'),
    notBefore,
    notAfter,
  };
}
