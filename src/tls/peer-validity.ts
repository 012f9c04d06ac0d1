import type { PeerCertificate } from 'node:tls';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../clock/skew-allowance.ts';

const DAY_MS = 86_400_000;

/**
 * The longest validity a peer's leaf may have: the longest leaf_lifetime (365 days) plus the
 * clock-skew allowance on both sides. A leaf valid for longer was not issued by a provisioningd.
 */
export const MAX_PEER_LEAF_VALIDITY_MS = 365 * DAY_MS + 2 * CLOCK_SKEW_ALLOWANCE_MS;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Why a peer's leaf has an absurd validity (undefined: it has not), checked on top of OpenSSL's own
 * check against this BMC's clock: no readable validity, notAfter not after notBefore, valid for
 * longer than any leaf a provisioningd issues, or starting more than the skew allowance after
 * `nowMs` (a leaf made with a clock far in the future). The first three hold whatever our clock says.
 */
export function peerValidityRefusal(cert: Pick<PeerCertificate, 'valid_from' | 'valid_to'>, nowMs: number): string | undefined {
  const notBefore = Date.parse(cert.valid_from);
  const notAfter = Date.parse(cert.valid_to);
  if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) return 'certificate has no readable validity period';
  if (notAfter <= notBefore) return `certificate validity is absurd: notAfter ${iso(notAfter)} is not after notBefore ${iso(notBefore)}`;
  if (notAfter - notBefore > MAX_PEER_LEAF_VALIDITY_MS) {
    return `certificate is valid for ${Math.round((notAfter - notBefore) / DAY_MS)} days (${iso(notBefore)} to ${iso(notAfter)}), longer than any leaf a provisioningd issues (${MAX_PEER_LEAF_VALIDITY_MS / DAY_MS} days)`;
  }
  if (notBefore > nowMs + CLOCK_SKEW_ALLOWANCE_MS) {
    return `certificate is not valid before ${iso(notBefore)}, more than ${CLOCK_SKEW_ALLOWANCE_MS / 3_600_000} h after this BMC's clock (${iso(nowMs)})`;
  }
  return undefined;
}
