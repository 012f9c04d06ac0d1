/** A PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, …) and its base64 lines. */
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\n((?:[A-Za-z0-9+/=]+\n)+)-----END \1-----/g;
/** Strict base64: whole groups of four, padding only at the end. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The DER of every `CERTIFICATE` block of a PEM text, in text order; other blocks (keys, CRLs) and
 * text around the blocks (e.g. the trust store's `Attested-Name:` header lines) are skipped. The
 * one PEM reader of the project, in plain code so that reading a certificate file (attestationd's
 * identity, the trust store) does not load the X.509 builder. Throws when a block's base64 is
 * malformed; an empty list means the text holds no certificate block.
 */
export function pemCertificates(text: string): Uint8Array[] {
  const blocks: Uint8Array[] = [];
  for (const [, label, lines] of text.replace(/\r/g, '').matchAll(PEM_BLOCK)) {
    if (label !== 'CERTIFICATE') continue;
    const base64 = (lines ?? '').replace(/\n/g, '');
    if (!BASE64.test(base64)) throw new Error('a CERTIFICATE block is not valid base64');
    blocks.push(new Uint8Array(Buffer.from(base64, 'base64')));
  }
  return blocks;
}
