import { assign, fromCallback, fromPromise, setup } from 'xstate';
import { backoffDelay, type RetryPolicy } from './backoff.ts';
import type { AttestationTarget, CredentialsEvent, LinkEvent, LinkTarget } from './events.ts';
import { toFailure, type Failure } from './failure.ts';

/** What the root machine knows about a peer when it spawns its machine. */
export interface PeerInput {
  readonly name: string;
  readonly address?: string;
  readonly port?: number;
  /** Trust was placed by the operator (static peer with its CA in the trust store): skip attestation. */
  readonly trustedOutOfBand: boolean;
  readonly retry: RetryPolicy;
  readonly attestationTimeoutMs: number;
}

/** One peer's lifecycle state, as the inspector and the D-Bus projection read it. */
export interface PeerContext extends PeerInput {
  /** Consecutive failed link attempts; 0 while connected. */
  readonly attempt: number;
  readonly lastError?: Failure;
}

/** Events a peer machine accepts: from the root machine, and from its link actor. */
export type PeerEvent = { type: 'ATTEST' } | LinkEvent | CredentialsEvent;

/** Names of the effects a peer needs; src/ provides them with `.provide({ actors })`. */
const notProvided = (what: string) => () => {
  throw new Error(`${what} is not provided`);
};

/**
 * One peer: attest it (or trust it out of band), then keep a mutual-TLS link to it, retrying with
 * backoff, and waiting in `Refused` for new trust or credentials when verification failed. The
 * daemon machine spawns one per peer as `peer:<name>`.
 */
export const peerMachine = setup({
  types: {
    context: {} as PeerContext,
    events: {} as PeerEvent,
    input: {} as PeerInput,
  },
  actors: {
    attestPeer: fromPromise<unknown, AttestationTarget>(notProvided('attestPeer')),
    tlsClient: fromCallback<CredentialsEvent, LinkTarget>(notProvided('tlsClient')),
  },
  guards: {
    trustedOutOfBand: ({ context }) => context.trustedOutOfBand,
    dialable: ({ context }) => Boolean(context.address && context.port),
  },
  delays: {
    attestationTimeout: ({ context }) => context.attestationTimeoutMs,
    retryBackoff: ({ context }) => backoffDelay(context.retry, context.attempt),
  },
  actions: {
    recordFailure: assign({
      lastError: (_, params: { code: string; reason: string }) => ({ code: params.code, message: params.reason }),
    }),
    countAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
    resetAttempts: assign({ attempt: 0, lastError: undefined }),
  },
}).createMachine({
  id: 'peer',
  context: ({ input }) => ({ ...input, attempt: 0 }),
  initial: 'NotDetermined',
  states: {
    NotDetermined: {
      always: { guard: 'trustedOutOfBand', target: 'Provisioned' },
      on: { ATTEST: 'Attesting' },
    },
    Attesting: {
      invoke: {
        src: 'attestPeer',
        input: ({ context }) => ({ name: context.name, address: context.address, port: context.port }),
        onDone: { target: 'Provisioned', actions: assign({ lastError: undefined }) },
        onError: {
          target: 'NotDetermined',
          actions: assign({ lastError: ({ event }) => toFailure(event.error, 'ATTESTATION_FAILED') }),
        },
      },
      after: {
        attestationTimeout: {
          target: 'NotDetermined',
          actions: { type: 'recordFailure', params: { code: 'ATTESTATION_TIMEOUT', reason: 'attestation timed out' } },
        },
      },
    },
    Provisioned: {
      always: { guard: 'dialable', target: 'Link' },
      on: { ATTEST: 'Attesting' },
    },
    Link: {
      invoke: {
        id: 'link',
        src: 'tlsClient',
        input: ({ context }) => ({ name: context.name, address: context.address ?? '', port: context.port ?? 0 }),
      },
      initial: 'InProgress',
      states: {
        InProgress: {
          on: { LINK_UP: { target: 'Connected', actions: 'resetAttempts' } },
        },
        Connected: {},
      },
      on: {
        LINK_DOWN: {
          target: 'NotConnected',
          actions: [
            'countAttempt',
            { type: 'recordFailure', params: ({ event }) => ({ code: 'LINK_DOWN', reason: event.reason }) },
          ],
        },
        LINK_FAILED: {
          target: 'NotConnected',
          actions: [
            'countAttempt',
            { type: 'recordFailure', params: ({ event }) => ({ code: 'LINK_FAILED', reason: event.reason }) },
          ],
        },
        LINK_REJECTED: {
          target: 'NotConnected.Refused',
          actions: { type: 'recordFailure', params: ({ event }) => ({ code: 'LINK_REJECTED', reason: event.reason }) },
        },
      },
    },
    NotConnected: {
      initial: 'Backoff',
      states: {
        Backoff: {
          after: { retryBackoff: '#peer.Link' },
        },
        /** Verification failed: retrying cannot help until trust or credentials change. */
        Refused: {
          on: { TRUST_UPDATED: '#peer.Link', CREDENTIALS_UPDATED: '#peer.Link' },
        },
      },
      on: { ATTEST: 'Attesting' },
    },
  },
});

/** A peer machine as src/ provides it. */
export type PeerMachine = typeof peerMachine;
