// The X.509 library needs its Reflect metadata polyfill loaded first (see pki/issuance/x509.ts).
import 'reflect-metadata';
import { PemConverter } from '@peculiar/x509';

/**
 * The DER of every `CERTIFICATE` block of a PEM text, in text order; other blocks (keys, CRLs) and
 * text around the blocks (e.g. the trust store's `Attested-Name:` header lines) are skipped. The
 * one PEM reader of the project: @peculiar/x509's PemConverter. Throws when a block's base64 is
 * malformed; an empty list means the text holds no certificate block.
 */
export function pemCertificates(text: string): Uint8Array[] {
  return PemConverter.decodeWithHeaders(text)
    .filter((block) => block.type === PemConverter.CertificateTag)
    .map((block) => new Uint8Array(block.rawData));
}
