import { and, assign, fromCallback, fromPromise, not, setup, stateIn } from 'xstate';
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
  /** The trust store already holds a CA attested for this name (e.g. before a restart). */
  readonly attested?: boolean;
  /** The trust store holds a CA placed by hand, which vouches for any name (this one too). */
  readonly anyNameTrusted?: boolean;
  readonly retry: RetryPolicy;
  readonly attestationTimeoutMs: number;
  /** How long a peer that is only a failed attestation (no address, no trust) is kept before it is forgotten. */
  readonly forgetFailedMs: number;
}

/** One peer's lifecycle state, as the inspector and the D-Bus projection read it. */
export interface PeerContext extends PeerInput {
  /** Consecutive failed link attempts; 0 while connected. */
  readonly attempt: number;
  /**
   * This BMC trusts a CA attested for the peer's name: set by a successful attestation, and kept in
   * step with the trust store by ATTESTATION_BOUND (a deleted CA makes it false again).
   */
  readonly attested: boolean;
  readonly lastError?: Failure;
}

/**
 * Events a peer machine accepts: from the root machine, from its link actor, and ATTEST_BACK when
 * the peer has just attested this BMC (our attestation responder said so): attest it in return
 * unless that was done already, so that trust ends up mutual. ATTESTATION_BOUND says whether the
 * trust store (still) holds a CA attested for this peer. PEER_ANNOUNCED: LLDP announced the peer
 * (again), so a link waiting to retry dials at once.
 */
export type PeerEvent =
  | { type: 'ATTEST' }
  | { type: 'ATTEST_BACK' }
  | { type: 'ATTESTATION_BOUND'; bound: boolean; anyName?: boolean }
  | { type: 'PEER_ANNOUNCED' }
  | LinkEvent
  | CredentialsEvent;

/** Names of the effects a peer needs; src/ provides them with `.provide({ actors })`. */
const notProvided = (what: string) => () => {
  throw new Error(`${what} is not provided`);
};

/**
 * One peer: attest it (or trust it out of band), then keep a mutual-TLS link to it, retrying with
 * backoff. A refused handshake (verification failed: an impostor, or trust not there yet) waits in
 * `Refused` and is retried on the same backoff, or at once when trust or credentials change. The
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
    /**
     * Some trusted CA may vouch for the peer (attested for it, or placed by hand): a refused dial
     * may succeed next time. Otherwise none can until trust changes, which dials at once anyway.
     */
    mayBeVouchedFor: ({ context }) => context.attested || context.anyNameTrusted === true,
    /**
     * Only a failed ProvisionPeer: its attestation failed, nothing to dial (no address: neither a
     * static peer nor an LLDP neighbour), and no trust, attested or placed by the operator.
     */
    forgettable: ({ context }) => context.lastError !== undefined && !context.address && !context.trustedOutOfBand && !context.attested,
    /** Not attested yet, not attesting now, and no working link that would make it pointless. */
    owesAttestation: and([({ context }) => !context.attested, not(stateIn('Attesting')), not(stateIn({ Link: 'Connected' }))]),
  },
  delays: {
    attestationTimeout: ({ context }) => context.attestationTimeoutMs,
    forgetFailed: ({ context }) => context.forgetFailedMs,
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
  context: ({ input }) => ({ ...input, attempt: 0, attested: input.attested ?? false }),
  initial: 'NotDetermined',
  on: {
    ATTEST_BACK: { guard: 'owesAttestation', target: '.Attesting' },
    ATTESTATION_BOUND: {
      actions: assign({
        attested: ({ event }) => event.bound,
        anyNameTrusted: ({ context, event }) => event.anyName ?? context.anyNameTrusted,
      }),
    },
  },
  states: {
    NotDetermined: {
      always: { guard: 'trustedOutOfBand', target: 'Provisioned' },
      // Each failed attestation starts the time again; a new ProvisionPeer (ATTEST) stops it.
      after: { forgetFailed: { guard: 'forgettable', target: 'Forgotten' } },
      on: { ATTEST: 'Attesting' },
    },
    /** The machine ends: the daemon machine stops it and drops the peer (its D-Bus object leaves). */
    Forgotten: { type: 'final' },
    Attesting: {
      invoke: {
        src: 'attestPeer',
        input: ({ context }) => ({ name: context.name, address: context.address, port: context.port }),
        onDone: { target: 'Provisioned', actions: assign({ lastError: undefined, attested: true }) },
        onError: {
          target: 'NotDetermined',
          actions: assign({ lastError: ({ event }) => toFailure(event.error, 'ATTESTATION_FAILED') }),
        },
      },
      after: {
        attestationTimeout: {
          target: 'NotDetermined',
          actions: {
            type: 'recordFailure',
            params: ({ context }) => ({
              code: 'ATTESTATION_TIMEOUT',
              reason: `no attestation verdict within ${context.attestationTimeoutMs / 1000} s`,
            }),
          },
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
          on: {
            LINK_UP: { target: 'Connected', actions: 'resetAttempts' },
            // ProvisionPeer while a dial is in flight: the attestation is what was asked for.
            ATTEST: '#peer.Attesting',
            // The dial in flight started with the old trust or credentials, and a refusal it ends in
            // would wait in Refused for a change that has already happened: dial again with the new.
            TRUST_UPDATED: { target: '#peer.Link', reenter: true },
            CREDENTIALS_UPDATED: { target: '#peer.Link', reenter: true },
          },
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
          actions: [
            'countAttempt',
            { type: 'recordFailure', params: ({ event }) => ({ code: 'LINK_REJECTED', reason: event.reason }) },
          ],
        },
      },
    },
    NotConnected: {
      initial: 'Backoff',
      states: {
        Backoff: {
          after: { retryBackoff: '#peer.Link' },
        },
        /**
         * We refused what answered (verification failed). Whatever that was, the real peer may answer
         * next time: dialled again after the backoff while some trusted CA may vouch for it (an
         * impostor must not switch the link off), and at once when trust or credentials change. A
         * peer no trusted CA may vouch for (not attested yet, none placed by hand) waits for that
         * change: re-dialling it could only be refused again.
         */
        Refused: {
          after: { retryBackoff: { guard: 'mayBeVouchedFor', target: '#peer.Link' } },
          on: { TRUST_UPDATED: '#peer.Link', CREDENTIALS_UPDATED: '#peer.Link' },
        },
      },
      on: { ATTEST: 'Attesting', PEER_ANNOUNCED: '#peer.Link' },
    },
  },
});

/** A peer machine as src/ provides it. */
export type PeerMachine = typeof peerMachine;
