import { createHash, X509Certificate } from 'node:crypto';
import { pemCertificates } from '../certificate/index.ts';
import { TrustStoreError } from './trust-store-error.ts';
import { errorMessage } from '../../util/error-message.ts';

/** Largest PEM text accepted for one CA certificate. */
export const MAX_CA_PEM_BYTES = 64 * 1024;

/** One parsed CA certificate: what the trust store keeps about it. */
export interface ParsedCa {
  /** SHA-256 of the DER, lowercase hex without separators. */
  readonly fingerprint: string;
  /** One-line subject, e.g. `CN=bmc-a Provisioning CA`. */
  readonly subject: string;
  /** Normalised PEM of the certificate alone (ends with a newline). */
  readonly pem: string;
}

/** SHA-256 of a certificate's DER as lowercase hex: the identity the trust store files it under. */
export function certificateFingerprint(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

/**
 * Parses text that must hold exactly one CA certificate (basicConstraints CA:true, and keyCertSign
 * if it has a keyUsage: OpenSSL's X509_check_ca() == 1). Throws TrustStoreError otherwise.
 */
export function parseCaPem(text: string): ParsedCa {
  if (Buffer.byteLength(text, 'utf8') > MAX_CA_PEM_BYTES) {
    throw new TrustStoreError('TOO_LARGE', `a CA certificate PEM must be at most ${MAX_CA_PEM_BYTES} bytes`);
  }
  if (/PRIVATE KEY-----/.test(text)) {
    throw new TrustStoreError('CONTAINS_PRIVATE_KEY', 'the PEM holds a private key; only a CA certificate is accepted');
  }
  let blocks: Uint8Array[];
  try {
    blocks = pemCertificates(text);
  } catch (err) {
    throw new TrustStoreError('NOT_ONE_CERTIFICATE', `the PEM block is not valid base64: ${errorMessage(err)}`);
  }
  const first = blocks[0];
  if (blocks.length !== 1 || first === undefined) {
    throw new TrustStoreError(
      'NOT_ONE_CERTIFICATE',
      `expected exactly one PEM certificate, found ${blocks.length}`,
    );
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first);
  } catch (err) {
    throw new TrustStoreError(
      'NOT_ONE_CERTIFICATE',
      `the PEM block is not a valid X.509 certificate: ${errorMessage(err)}`,
    );
  }
  const subject = cert.subject.split('\n').join(', ');
  if (!cert.ca) {
    throw new TrustStoreError(
      'NOT_A_CA',
      `"${subject}" is not a CA certificate (needs basicConstraints CA:true and keyCertSign)`,
    );
  }
  return { fingerprint: certificateFingerprint(cert), subject, pem: cert.toString() };
}
