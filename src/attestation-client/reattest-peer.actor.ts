import { fromPromise } from 'xstate';
import type { AttestationTarget } from '../../machines/events.ts';
import { ATTESTATION_CANCELLED, ATTESTATION_REJECTED, verdictCodeOf, type AttestationDone } from '../../machines/reattestation.ts';
import { parseCaPem, type TrustStore } from '../pki/trust/index.ts';
import { CodedError } from '../util/coded-error.ts';
import { attestAtPeerAddress, type AttestPeerDeps } from './attest-peer.actor.ts';
import { AttestationError } from './attestation-client.ts';

/** What the reattestPeer actor is built from: the attestPeer deps, and where a re-attestation is reported. */
export interface ReattestPeerDeps extends Omit<AttestPeerDeps, 'trustStore'> {
  readonly trustStore: Pick<TrustStore, 'attestedFingerprintsFor'>;
}

/** A re-attestation's failure: ATTESTATION_REJECTED (a verdict against the peer) or why it could not run. */
export class ReattestationError extends CodedError<typeof ATTESTATION_REJECTED | AttestationError['code']> {
  override readonly name = 'ReattestationError';
}

/**
 * The peer machine's `reattestPeer` actor: asks attestationd for a new verdict on an attested peer
 * (fresh nonces) and compares it with what is trusted. It passes when the evidence verifies and its
 * provisioning CA is the one bound to the peer's name: nothing is written. It rejects with
 * ATTESTATION_REJECTED when attestationd's verdict goes against the peer (a measurement not in the
 * manifest, an identity chain or signature that does not verify; docs/attestation.md) or the CA it
 * measured is another one (`CA_CHANGED`); the machine then revokes. No CA bound to the name any more
 * (deleted while it ran) is ATTESTATION_CANCELLED: no verdict. Anything else (unreachable,
 * timeout, attestationd absent, this BMC's manifest unusable) is no verdict and keeps its code.
 */
export function createReattestPeerActor(deps: ReattestPeerDeps) {
  return fromPromise<AttestationDone, AttestationTarget>(async ({ input, signal }) => {
    const log = deps.log.child({ peer: input.name });
    try {
      const attested = await attestAtPeerAddress(deps, { input, signal, log, what: 're-attesting' });
      const measured = parseCaPem(attested.caPem).fingerprint;
      const trusted = deps.trustStore.attestedFingerprintsFor(input.name);
      if (trusted.length === 0) {
        // The binding went while it ran (the CA deleted): nothing to compare with, so no verdict.
        const reason = `no CA is bound to ${input.name} any more: nothing to compare the measured provisioning CA with`;
        log.info(`re-attestation of ${input.name} ended without a verdict: ${reason}`, { event: 'REATTESTATION_UNBOUND' });
        throw new ReattestationError(ATTESTATION_CANCELLED, reason);
      }
      if (!trusted.includes(measured)) {
        const reason = `CA_CHANGED: the peer now measures provisioning CA ${measured}, not the one trusted for ${input.name}`;
        log.error(`re-attestation of ${input.name} failed: ${reason}`, { event: 'REATTESTATION_REJECTED', code: 'CA_CHANGED', reason });
        throw new ReattestationError(ATTESTATION_REJECTED, reason);
      }
      log.info(`re-attested ${input.name} (${attested.deviceSubject}): same CA, measurements accepted`, { event: 'PEER_REATTESTED' });
      return { atMs: Date.now() };
    } catch (err) {
      if (err instanceof ReattestationError) throw err;
      const failure = err instanceof AttestationError ? err : new AttestationError('ATTESTATION_FAILED', String(err));
      const verdict = failure.code === 'ATTESTATION_FAILED' ? verdictCodeOf(failure.message) : undefined;
      if (verdict) {
        log.error(`re-attestation of ${input.name} failed: ${failure.message}`, { event: 'REATTESTATION_REJECTED', code: verdict, reason: failure.message });
        throw new ReattestationError(ATTESTATION_REJECTED, failure.message);
      }
      log.warn(`re-attestation of ${input.name} could not run (no verdict): ${failure.message}`, {
        event: 'REATTESTATION_UNREACHABLE',
        code: failure.code,
        reason: failure.message,
      });
      throw new ReattestationError(failure.code, failure.message);
    }
  });
}
