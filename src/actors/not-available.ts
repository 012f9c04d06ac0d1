import { fromPromise } from 'xstate';
import type { AttestationTarget } from '../../machines/events.ts';

/** The failure of a capability this build does not have yet: an honest error, never a fake success. */
export class NotAvailableError extends Error {
  override readonly name = 'NotAvailableError';
  readonly code = 'NOT_AVAILABLE';
}

/** attestPeer until an attestation service exists: every attestation fails, clearly. */
export const attestationNotAvailable = fromPromise<unknown, AttestationTarget>(async ({ input }) => {
  throw new NotAvailableError(`attestation of ${input.name} is not available yet: no attestation service in this build`);
});
