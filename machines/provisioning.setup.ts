import { fromCallback, fromPromise, setup } from 'xstate';
import type { CredentialsEvent, IssueRequest, IssueSummary } from './events.ts';
import { peerMachine } from './peer.machine.ts';
import type { ProvisioningContext, ProvisioningEvent, ProvisioningInput, SelfProvisionResult } from './provisioning.types.ts';

/** Stands in for an effect until src/ provides it: running the bare machine fails loudly. */
const notProvided = (what: string) => () => {
  throw new Error(`${what} is not provided`);
};

/**
 * The daemon machine's types and the effects it invokes by name. src/ provides the effects with
 * `.provide({ actors })`; the actions (provisioning.actions.ts) and the chart build on this.
 */
export const provisioningSetup = setup({
  types: {
    context: {} as ProvisioningContext,
    events: {} as ProvisioningEvent,
    input: {} as ProvisioningInput,
    emitted: {} as SelfProvisionResult,
  },
  actors: {
    issueCertificates: fromPromise<IssueSummary, IssueRequest>(notProvided('issueCertificates')),
    tlsResponder: fromCallback<CredentialsEvent>(notProvided('tlsResponder')),
    peer: peerMachine,
  },
});
