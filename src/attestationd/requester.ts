import { withTimeout } from '../util/with-timeout.ts';
import type { AttestationOutcome, AttestationRequest, AttestDevice } from './attestation-outcome.ts';
import { readCertificates } from './device-identity.ts';
import { checkIdentityName } from './identity-name.ts';
import { loadReferenceManifest, type ReferenceManifest } from './reference-manifest.ts';
import { verifyReport, type ReportToVerify } from './verify-report.ts';
import { errorMessage } from '../util/error-message.ts';

/** The SPDM requester as src/spdm exports it (attest()); injected so the verdict logic stays testable. */
export type SpdmAttest = (o: {
  host: string;
  port: number;
  transport: 'tcp';
  roots: Uint8Array[];
  timeoutMs: number;
}) => Promise<ReportToVerify & { readonly certificateChain: readonly string[] }>;

/** What the requester needs: the SPDM attest(), the trusted roots and the manifest (both read per attestation). */
export interface RequesterOptions {
  readonly spdmAttest: SpdmAttest;
  /** PEM file with the roots a peer's identity chain must end at. */
  readonly rootsFile: string;
  readonly manifestFile: string;
  /** `match`: the peer's device identity certificate must name the device id it is attested as. */
  readonly identityName: 'match' | 'any';
  readonly timeoutMs: number;
}

function failure(code: string, err: unknown): AttestationOutcome {
  const message = errorMessage(err);
  return { ok: false, code, reason: message.split('\n')[0] ?? message };
}

/**
 * The requester: SPDM 1.2 against the device (its chain must end at a configured root, its
 * signatures verify over a fresh nonce), then the signed measurements against the reference
 * manifest; the verdict carries the peer's provisioning CA from measurement block 0xEF.
 * Roots and manifest are read for every attestation, so updating them needs no restart.
 */
export function createRequester(opts: RequesterOptions): AttestDevice {
  const once = async (req: AttestationRequest): Promise<AttestationOutcome> => {
    let roots: Uint8Array[];
    try {
      roots = (await readCertificates(opts.rootsFile, 'roots')).map((c) => new Uint8Array(c.raw));
    } catch (err) {
      return failure('ROOTS_INVALID', err);
    }
    let manifest: ReferenceManifest;
    try {
      manifest = await loadReferenceManifest(opts.manifestFile);
    } catch (err) {
      return failure('MANIFEST_INVALID', err);
    }
    let report: Awaited<ReturnType<SpdmAttest>>;
    try {
      report = await opts.spdmAttest({ host: req.host, port: req.port, transport: 'tcp', roots, timeoutMs: opts.timeoutMs });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return failure(typeof code === 'string' && code ? code : 'SPDM_FAILED', err);
    }
    const identity = checkIdentityName({ chain: report.certificateChain, id: req.id, policy: opts.identityName });
    if (!identity.ok) return identity;
    const verdict = verifyReport(report, manifest);
    if (!verdict.ok) return { ok: false, code: verdict.code, reason: verdict.reason };
    return { ok: true, caPem: verdict.caPem, caFingerprint: verdict.caFingerprint, deviceSubject: identity.subject };
  };
  // The SPDM exchange has its own deadline; this one also bounds reading roots and manifest.
  return (req) => withTimeout(once(req), opts.timeoutMs + 2000, `attesting ${req.id}`).catch((err: unknown) => failure('TIMEOUT', err));
}
