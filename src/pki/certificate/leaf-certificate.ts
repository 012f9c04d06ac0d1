import { generateKeyPairSync } from 'node:crypto';
import type { IssuingCa } from './ca-certificate.ts';
import { buildCertificate } from './certificate-builder.ts';
import { randomSerial } from './certificate-serial.ts';

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

/** Which CA issues the leaf (and signs it, on its token), for how long. */
export interface LeafRequest {
  readonly ca: IssuingCa;
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
  const cert = await buildCertificate({
    profile: req.ca.leafProfile,
    fields: { serial: randomSerial(), notBefore, notAfter, spki },
    signer: req.ca.signer,
  });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: cert.pem,
    notBefore,
    notAfter,
  };
}
