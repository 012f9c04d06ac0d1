import { backoffDelay, type RetryPolicy } from './backoff.ts';

/** Default of `reattest_interval_s`: an attested peer is attested again every hour. */
export const DEFAULT_REATTEST_INTERVAL_S = 3600;
/** Default of `reattest_max_unreachable`: this many re-attestations in a row that could not run make the peer stale. */
export const DEFAULT_REATTEST_MAX_UNREACHABLE = 3;
/** The share of the interval the jitter moves a re-attestation by, either way (±10 %). */
export const REATTEST_JITTER = 0.1;
/** Most a re-attestation that is due at once (a link back, our restart) waits, spread by jitter. */
export const REATTEST_SOON_MAX_MS = 5000;

/** How often an attested peer is attested again, and when missed attempts make it stale (milliseconds). */
export interface ReattestPolicy {
  /** 0: never (continuous trust given up). */
  readonly intervalMs: number;
  /** Consecutive re-attestations that could not run before the peer is reported stale (at least 1). */
  readonly maxUnreachable: number;
}

/** The policy the machine runs with unless src/ provides another (the configuration defaults). */
export const DEFAULT_REATTEST_POLICY: ReattestPolicy = {
  intervalMs: DEFAULT_REATTEST_INTERVAL_S * 1000,
  maxUnreachable: DEFAULT_REATTEST_MAX_UNREACHABLE,
};

/** The re-attestation actor's error code for a verdict against the peer: the machine revokes. */
export const ATTESTATION_REJECTED = 'ATTESTATION_REJECTED';
/** The re-attestation actor's error code when it ended without a verdict because the peer's CA binding went while it ran (not counted). */
export const ATTESTATION_CANCELLED = 'ATTESTATION_CANCELLED';
/** lastError code of a peer whose trust was revoked by a failed re-attestation. */
export const ATTESTATION_REVOKED = 'ATTESTATION_REVOKED';

/**
 * attestationd's failure codes (its `last_failure`) that are a verdict on the peer: its evidence
 * arrived and did not verify, or did not match the reference manifest. Every other failure
 * (unreachable, timeout, a peer not speaking SPDM, this BMC's own roots or manifest unusable) means
 * the attestation could not run, which is no verdict. `CA_CHANGED` is provisioningd's own: the
 * evidence verified, but its provisioning CA is not the one trusted for the peer's name.
 */
export const VERDICT_CODES: ReadonlySet<string> = new Set([
  'UNTRUSTED_CHAIN',
  'IDENTITY_NAME_MISMATCH',
  'BAD_SIGNATURE',
  'CHAIN_HASH_MISMATCH',
  'DIGEST_MISMATCH',
  'BAD_CERTIFICATE',
  'MEASUREMENT_MISMATCH',
  'MEASUREMENT_MISSING',
  'MEASUREMENT_UNEXPECTED',
  'MEASUREMENT_HASH_UNSUPPORTED',
  'NO_PROVISIONING_CA',
  'BAD_PROVISIONING_CA',
  'CA_CHANGED',
]);

/** The code at the start of attestationd's `last_failure` (`CODE: reason`), or undefined. */
export function verdictCodeOf(lastFailure: string): string | undefined {
  const code = /^([A-Z][A-Z0-9_]*):/.exec(lastFailure)?.[1];
  return code !== undefined && VERDICT_CODES.has(code) ? code : undefined;
}

/**
 * When the next re-attestation is due: the interval moved by up to ±10 % (`jitter` in [0, 1) picks
 * where: 0.5 is the interval itself), so that a rack does not attest in lockstep. After attempts
 * that could not run it is retried sooner, on the link's backoff (never later than the interval).
 * A peer trusted from before this run (`trustedFromBefore`: attested, no verdict on it since we
 * started) is due soon (reattestSoonMs), whether or not our link to it comes up. Pure: the caller
 * supplies the randomness.
 */
export function reattestDelayMs(opts: { policy: ReattestPolicy; unreachable: number; retry: RetryPolicy; jitter?: number; trustedFromBefore?: boolean }): number {
  if (opts.trustedFromBefore === true) return reattestSoonMs(opts.jitter ?? 0.5);
  const j = Math.min(Math.max(opts.jitter ?? 0.5, 0), 0.999999);
  const interval = Math.round(opts.policy.intervalMs * (1 + REATTEST_JITTER * (2 * j - 1)));
  if (opts.unreachable <= 0) return interval;
  return Math.min(interval, backoffDelay(opts.retry, opts.unreachable));
}

/** How long a re-attestation due at once waits: up to REATTEST_SOON_MAX_MS, spread by `jitter` in [0, 1). */
export function reattestSoonMs(jitter = 0): number {
  return Math.round(REATTEST_SOON_MAX_MS * Math.min(Math.max(jitter, 0), 0.999999));
}

/** What the attestation actors report on success; the peer machine keeps the time. */
export interface AttestationDone {
  /** Wall-clock time of the verdict, epoch milliseconds. */
  readonly atMs: number;
}

/** The verdict time from an attestation actor's output, when it reported one. */
export function attestedAtOf(output: unknown): number | undefined {
  const at = (output as { atMs?: unknown } | null | undefined)?.atMs;
  return typeof at === 'number' && Number.isFinite(at) ? at : undefined;
}

/** What is known about each peer's last attestation from an earlier run (the state file), by name. */
export type AttestationHistory = Readonly<
  Record<string, { readonly lastAttestedMs?: number; readonly verdict?: 'passed' | 'revoked' | 'unreachable' } | undefined>
>;
