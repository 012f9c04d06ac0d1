/**
 * The few DER encodings certificate assembly needs (ITU-T X.690). Kept minimal on purpose: the
 * constant parts of a certificate are encoded once by @peculiar/x509, only the per-issuance fields
 * (serial, validity, key, key identifier, signature) go through these.
 */

function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Uint8Array.of(0x80 | out.length, ...out);
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A tag-length-value with the given tag byte around the concatenated content. */
export function tlv(tag: number, ...content: readonly Uint8Array[]): Uint8Array {
  const body = concatBytes(content);
  return concatBytes([Uint8Array.of(tag), lengthBytes(body.length), body]);
}

/** SEQUENCE. */
export const sequence = (...content: readonly Uint8Array[]): Uint8Array => tlv(0x30, ...content);

/** OCTET STRING. */
export const octetString = (bytes: Uint8Array): Uint8Array => tlv(0x04, bytes);

/** BIT STRING with no unused bits. */
export const bitString = (bytes: Uint8Array): Uint8Array => tlv(0x03, Uint8Array.of(0), bytes);

/** Context-specific constructed tag [n] (EXPLICIT). */
export const explicit = (n: number, ...content: readonly Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...content);

/** INTEGER from an unsigned big-endian magnitude (leading zeros dropped, a 0x00 added if the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const first = trimmed[0] ?? 0;
  return tlv(0x02, first & 0x80 ? concatBytes([Uint8Array.of(0), trimmed]) : trimmed.length ? trimmed : Uint8Array.of(0));
}

/** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050, whole seconds, Zulu. */
export function x509Time(date: Date): Uint8Array {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  if (year < 1950) throw new RangeError(`certificate time before 1950: ${iso}`);
  return year < 2050
    ? tlv(0x17, new TextEncoder().encode(digits.slice(2)))
    : tlv(0x18, new TextEncoder().encode(digits));
}

/** ECDSA-Sig-Value (SEQUENCE of r and s INTEGERs) from an IEEE P1363 r||s signature. */
export function ecdsaSignatureValue(rs: Uint8Array): Uint8Array {
  if (rs.length === 0 || rs.length % 2 !== 0) throw new RangeError(`ECDSA signature of odd length ${rs.length}`);
  const half = rs.length / 2;
  return sequence(unsignedInteger(rs.subarray(0, half)), unsignedInteger(rs.subarray(half)));
}

/** PEM armour around DER, 64 characters a line. */
export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
