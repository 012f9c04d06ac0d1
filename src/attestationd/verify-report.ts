import { X509Certificate } from 'node:crypto';
import { parseCaPem } from '../pki/trust/index.ts';
import { PROVISIONING_CA_INDEX } from './names.ts';
import type { ReferenceManifest } from './reference-manifest.ts';
import { errorFirstLine } from '../util/error-message.ts';

/** The parts of an SPDM attestation report (src/spdm attest()) this check reads. */
export interface ReportToVerify {
  readonly algorithms: { readonly measurementHash: string };
  readonly measurements: ReadonlyArray<{ readonly index: number; readonly valueType: number; readonly raw: boolean; readonly value: string }>;
}

/** A report that matched the manifest: the peer's provisioning CA, now bound to the attested device. */
export interface VerifiedReport {
  readonly ok: true;
  readonly caPem: string;
  readonly caFingerprint: string;
  readonly caSubject: string;
}

/** Why a report did not match; `code` is stable, `reason` one line for logs and D-Bus. */
export interface RejectedReport {
  readonly ok: false;
  readonly code:
    | 'MEASUREMENT_HASH_UNSUPPORTED'
    | 'MEASUREMENT_MISSING'
    | 'MEASUREMENT_MISMATCH'
    | 'MEASUREMENT_UNEXPECTED'
    | 'NO_PROVISIONING_CA'
    | 'BAD_PROVISIONING_CA';
  readonly reason: string;
}

/** The verdict on a signed report. */
export type ReportVerdict = VerifiedReport | RejectedReport;

const short = (hex: string) => (hex.length > 16 ? `${hex.slice(0, 16)}…` : hex);

/**
 * Compares a signed, nonce-fresh measurement report with the reference manifest: every manifest
 * index must be reported as a SHA-256 digest listed for it, nothing else may be reported besides
 * the provisioning CA block (index 0xEF, raw DER of one CA certificate), which is returned. One
 * mismatch rejects the whole report.
 */
export function verifyReport(report: ReportToVerify, manifest: ReferenceManifest): ReportVerdict {
  if (!/^sha[-_]?256$/i.test(report.algorithms.measurementHash)) {
    return {
      ok: false,
      code: 'MEASUREMENT_HASH_UNSUPPORTED',
      reason: `the peer measured with ${report.algorithms.measurementHash}; the reference manifest holds SHA-256 digests`,
    };
  }
  const byIndex = new Map(report.measurements.map((m) => [m.index, m]));
  for (const ref of manifest.measurements) {
    const label = `measurement ${ref.index}${ref.description ? ` (${ref.description})` : ''}`;
    const got = byIndex.get(ref.index);
    if (!got) return { ok: false, code: 'MEASUREMENT_MISSING', reason: `${label} was not reported` };
    const value = got.value.toLowerCase();
    if (got.raw || !ref.sha256.includes(value)) {
      return {
        ok: false,
        code: 'MEASUREMENT_MISMATCH',
        reason: `${label} is ${got.raw ? 'a raw value' : short(value)}, not one of its ${ref.sha256.length} reference digest(s)`,
      };
    }
  }
  const listed = new Set(manifest.measurements.map((m) => m.index));
  const extra = report.measurements.find((m) => m.index !== PROVISIONING_CA_INDEX && !listed.has(m.index));
  if (extra) {
    return { ok: false, code: 'MEASUREMENT_UNEXPECTED', reason: `measurement ${extra.index} is not in the reference manifest` };
  }
  const caBlock = byIndex.get(PROVISIONING_CA_INDEX);
  if (!caBlock) {
    return {
      ok: false,
      code: 'NO_PROVISIONING_CA',
      reason: `the peer reported no provisioning CA (measurement ${PROVISIONING_CA_INDEX}): it is not provisioned yet`,
    };
  }
  if (!caBlock.raw) {
    return { ok: false, code: 'BAD_PROVISIONING_CA', reason: `measurement ${PROVISIONING_CA_INDEX} is a digest, not the CA certificate itself` };
  }
  try {
    const cert = new X509Certificate(Buffer.from(caBlock.value, 'hex'));
    const ca = parseCaPem(cert.toString());
    return { ok: true, caPem: ca.pem, caFingerprint: ca.fingerprint, caSubject: ca.subject };
  } catch (err) {
    return {
      ok: false,
      code: 'BAD_PROVISIONING_CA',
      reason: `measurement ${PROVISIONING_CA_INDEX} is not a CA certificate: ${errorFirstLine(err)}`,
    };
  }
}
