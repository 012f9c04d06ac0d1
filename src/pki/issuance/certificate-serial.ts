import { randomBytes } from 'node:crypto';

/** A random 16-byte positive serial number (top bit clear, first byte non-zero: exactly 16 octets in DER). */
export function randomSerial(): Uint8Array {
  const serial = new Uint8Array(randomBytes(16));
  serial[0] = ((serial[0] ?? 0) & 0x7f) || 0x01;
  return serial;
}
