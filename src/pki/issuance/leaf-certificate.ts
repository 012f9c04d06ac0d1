import { generateKeyPairSync } from 'node:crypto';
import type { IssuingCa } from './ca-certificate.ts';
import { buildCertificate } from './certificate-builder.ts';
import { randomSerial } from './certificate-serial.ts';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../../clock/skew-allowance.ts';

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
 * now − the clock-skew allowance to now + lifetime + the allowance (never past the CA's notAfter),
 * so a peer whose clock is up to the allowance ahead or behind accepts it for its whole lifetime.
 */
export async function issueLeaf(req: LeafRequest): Promise<IssuedLeaf> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const now = Date.now();
  const notBefore = new Date(Math.floor((now - CLOCK_SKEW_ALLOWANCE_MS) / 1000) * 1000);
  const notAfter = new Date(Math.min(Math.floor((now + req.lifetimeMs + CLOCK_SKEW_ALLOWANCE_MS) / 1000) * 1000, req.ca.notAfter.getTime()));
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
