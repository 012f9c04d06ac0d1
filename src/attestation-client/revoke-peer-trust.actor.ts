import { fromPromise } from 'xstate';
import type { RevocationTarget } from '../../machines/peer.machine.ts';
import type { Logger } from '../log.ts';
import type { TrustStore } from '../pki/trust/index.ts';
import { withTimeout } from '../util/with-timeout.ts';

/** What the revokePeerTrust actor is built from. */
export interface RevokePeerTrustDeps {
  readonly trustStore: Pick<TrustStore, 'revokeName'>;
  readonly log: Logger;
  readonly timeoutMs: number;
}

/**
 * The peer machine's `revokePeerTrust` actor: removes the peer's name binding from the trust store
 * (TrustStore.revokeName: one atomic change per CA file). The trust store's change notification
 * then closes the peer's inbound links (the responder) and tells the root machine (ATTESTED_NAMES).
 * A failed write rejects; the machine retries it.
 */
export function createRevokePeerTrustActor(deps: RevokePeerTrustDeps) {
  return fromPromise<unknown, RevocationTarget>(async ({ input }) => {
    const revoked = await withTimeout(deps.trustStore.revokeName(input.name), deps.timeoutMs, `revoking the trust of ${input.name}`);
    deps.log.error(`revoked ${input.name}: ${input.reason}; refused until ProvisionPeer attests it again`, {
      peer: input.name,
      event: 'ATTESTATION_REVOKED',
      code: 'ATTESTATION_REVOKED',
      reason: input.reason,
      cas: revoked.join(','),
    });
    return revoked;
  });
}
