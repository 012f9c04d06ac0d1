import { findAll } from '@peculiar/utils/pem';

/**
 * The DER of every `CERTIFICATE` block of a PEM text, in text order; other blocks (keys, CRLs) and
 * text around the blocks (e.g. the trust store's `Attested-Name:` header lines) are skipped. The
 * one PEM reader of the project: @peculiar/utils' PEM codec, which loads without the X.509
 * library (a daemon reads its trust store before it owns its bus name; @peculiar/x509 is loaded
 * only when a certificate is issued). Throws when a block's base64 is malformed; an empty list
 * means the text holds no certificate block.
 */
export function pemCertificates(text: string): Uint8Array[] {
  return findAll(text, 'CERTIFICATE').map((block) => block.data);
}
