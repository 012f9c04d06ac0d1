import { fromCallback, fromPromise } from 'xstate';
import type { AttestationTarget, CredentialsEvent, LinkEvent, LinkTarget, ResponderEvent } from '../../machines/events.ts';

/** The failure of a capability this build does not have yet: an honest error, never a fake success. */
export class NotAvailableError extends Error {
  override readonly name = 'NotAvailableError';
  readonly code = 'NOT_AVAILABLE';
}

/** attestPeer until an attestation service exists: every attestation fails, clearly. */
export const attestationNotAvailable = fromPromise<unknown, AttestationTarget>(async ({ input }) => {
  throw new NotAvailableError(`attestation of ${input.name} is not available yet: no attestation service in this build`);
});

/** tlsClient stand-in for builds without the peer link: each attempt fails and is logged by the machine. */
export const linkNotAvailable = fromCallback<CredentialsEvent, LinkTarget, LinkEvent>(({ sendBack }) => {
  sendBack({ type: 'LINK_FAILED', reason: 'the peer link is not available in this build' });
});

/** tlsResponder stand-in for builds without the peer link. */
export const responderNotAvailable = fromCallback<CredentialsEvent, void, ResponderEvent>(({ sendBack }) => {
  sendBack({ type: 'RESPONDER_FAILED', reason: 'the peer link responder is not available in this build' });
});
