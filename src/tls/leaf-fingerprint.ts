import type { TLSSocket } from 'node:tls';

/**
 * The SHA-256 fingerprint of the leaf the far end of a TLS socket presented, as lowercase hex
 * without colons: how a peer's leaf is compared from one link to the next (a renewal changes it).
 */
export function leafFingerprint(socket: TLSSocket | undefined): string | undefined {
  const fingerprint = socket?.getPeerCertificate().fingerprint256;
  return fingerprint ? fingerprint.replace(/:/g, '').toLowerCase() : undefined;
}
