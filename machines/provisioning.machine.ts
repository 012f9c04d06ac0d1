import { assign, emit, enqueueActions, forwardTo, fromCallback, fromPromise, raise, setup, stateIn, type ActorRefFrom } from 'xstate';
import type { RetryPolicy } from './backoff.ts';
import type { CredentialsEvent, IssueRequest, IssueSummary, ResponderEvent } from './events.ts';
import { toFailure, type Failure } from './failure.ts';
import { peerMachine, type PeerInput } from './peer.machine.ts';

/** A peer known before discovery: from the `peers` configuration key. */
export interface KnownPeer {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

/** What the daemon starts from: the persisted flag and config-derived timings (milliseconds). */
export interface ProvisioningInput {
  /** The persisted `provisioned` flag, read from state_dir at start. */
  readonly provisioned: boolean;
  readonly staticPeers: readonly KnownPeer[];
  readonly retry: RetryPolicy;
  readonly attestationTimeoutMs: number;
  /** Delay before retrying a failed boot-time restore or a failed renewal. */
  readonly issueRetryMs: number;
  /** Delay before the responder tries to listen again after failing to. */
  readonly listenRetryMs: number;
}

/** The daemon's state beyond its state value; pure data, safe to show in the inspector. */
export interface ProvisioningContext extends ProvisioningInput {
  readonly selfError?: Failure;
  readonly responderError?: Failure;
  readonly caFingerprint?: string;
  readonly leafNotBefore?: number;
  readonly leafNotAfter?: number;
  /** D-Bus calls of ProvisionPeer("self") waiting for the issuance in flight. */
  readonly pendingSelfRequests: readonly string[];
  /** Names of the spawned peer machines (children with id `peer:<name>`). */
  readonly peerNames: readonly string[];
  /** Open inbound links per peer name, by connection id. */
  readonly inbound: Readonly<Record<string, readonly string[]>>;
}

/** Events the daemon accepts: from D-Bus, from the responder actor, from the trust store. */
export type ProvisioningEvent =
  | { type: 'PROVISION_SELF'; requestId: string }
  | { type: 'PROVISION_PEER'; id: string }
  | ResponderEvent
  | CredentialsEvent;

/** Emitted when a ProvisionPeer("self") call can be answered. */
export type SelfProvisionResult =
  | { type: 'selfProvisionResult'; requestIds: readonly string[]; ok: true }
  | { type: 'selfProvisionResult'; requestIds: readonly string[]; ok: false; failure: Failure };

/** The child id of a peer's machine. */
export const peerChildId = (name: string) => `peer:${name}`;

const notProvided = (what: string) => () => {
  throw new Error(`${what} is not provided`);
};

/** The longest delay a JavaScript timer can hold (about 24.8 days); longer ones would fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Two thirds of the leaf lifetime: when renewal starts, counted from issuance. Capped at the
 * timer limit: a lifetime above ~37 days renews after ~24.8 days instead of looping at once.
 */
export function renewalDelayMs(notBefore: number | undefined, notAfter: number | undefined): number {
  if (notBefore === undefined || notAfter === undefined || notAfter <= notBefore) return 60_000;
  return Math.min(MAX_TIMER_MS, Math.max(1000, Math.floor(((notAfter - notBefore) * 2) / 3)));
}

export const provisioningMachine = setup({
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
  guards: {
    /** The persisted flag: this BMC has (had) its CA. */
    provisioned: ({ context }) => context.provisioned,
    /** This BMC has credentials: the responder may listen. */
    inProvisionedState: stateIn({ self: 'Provisioned' }),
  },
  delays: {
    leafRenewal: ({ context }) => renewalDelayMs(context.leafNotBefore, context.leafNotAfter),
    issueRetry: ({ context }) => context.issueRetryMs,
    listenRetry: ({ context }) => context.listenRetryMs,
  },
  actions: {
    queueSelfRequest: assign({
      pendingSelfRequests: ({ context, event }) =>
        event.type === 'PROVISION_SELF' ? [...context.pendingSelfRequests, event.requestId] : context.pendingSelfRequests,
    }),
    recordIssue: assign((_, summary: IssueSummary) => ({
      provisioned: true,
      selfError: undefined,
      caFingerprint: summary.caFingerprint,
      leafNotBefore: summary.leafNotBefore,
      leafNotAfter: summary.leafNotAfter,
    })),
    recordSelfError: assign({ selfError: (_, failure: Failure) => failure }),
    answerSelfRequests: enqueueActions(({ context, enqueue }, failure: Failure | undefined) => {
      if (context.pendingSelfRequests.length === 0) return;
      const requestIds = context.pendingSelfRequests;
      enqueue(
        emit(
          failure
            ? { type: 'selfProvisionResult' as const, requestIds, ok: false as const, failure }
            : { type: 'selfProvisionResult' as const, requestIds, ok: true as const },
        ),
      );
      enqueue.assign({ pendingSelfRequests: [] });
    }),
    spawnStaticPeers: enqueueActions(({ context, enqueue }) => {
      const added: string[] = [];
      for (const p of context.staticPeers) {
        if (context.peerNames.includes(p.name) || added.includes(p.name)) continue;
        const input: PeerInput = {
          ...p,
          trustedOutOfBand: true,
          retry: context.retry,
          attestationTimeoutMs: context.attestationTimeoutMs,
        };
        enqueue.spawnChild('peer', { id: peerChildId(p.name), input });
        added.push(p.name);
      }
      if (added.length) enqueue.assign({ peerNames: [...context.peerNames, ...added] });
    }),
    startAttestation: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'PROVISION_PEER') return;
      const name = event.id;
      if (!context.peerNames.includes(name)) {
        const known = context.staticPeers.find((p) => p.name === name);
        const input: PeerInput = {
          name,
          ...(known ? { address: known.address, port: known.port } : {}),
          trustedOutOfBand: false,
          retry: context.retry,
          attestationTimeoutMs: context.attestationTimeoutMs,
        };
        enqueue.spawnChild('peer', { id: peerChildId(name), input });
        enqueue.assign({ peerNames: [...context.peerNames, name] });
      }
      enqueue.sendTo(peerChildId(name), { type: 'ATTEST' });
    }),
    /** Tells every peer link that trust or our credentials changed (the responder region hears it too). */
    notifyLinks: enqueueActions(({ context, enqueue }, change: CredentialsEvent['type']) => {
      for (const name of context.peerNames) enqueue.sendTo(peerChildId(name), { type: change });
    }),
    inboundUp: assign({
      inbound: ({ context, event }) => {
        if (event.type !== 'INBOUND_UP') return context.inbound;
        const open = context.inbound[event.peer] ?? [];
        return open.includes(event.connectionId)
          ? context.inbound
          : { ...context.inbound, [event.peer]: [...open, event.connectionId] };
      },
    }),
    inboundDown: assign({
      inbound: ({ context, event }) => {
        if (event.type !== 'INBOUND_DOWN') return context.inbound;
        const rest = (context.inbound[event.peer] ?? []).filter((id) => id !== event.connectionId);
        const next = { ...context.inbound };
        if (rest.length) next[event.peer] = rest;
        else delete next[event.peer];
        return next;
      },
    }),
    recordResponderFailure: assign({
      responderError: ({ event }) =>
        event.type === 'RESPONDER_FAILED' ? { code: 'RESPONDER_FAILED', message: event.reason } : undefined,
    }),
  },
}).createMachine({
  id: 'provisioning',
  context: ({ input }) => ({ ...input, pendingSelfRequests: [], peerNames: [], inbound: {} }),
  type: 'parallel',
  on: {
    PROVISION_PEER: { guard: 'provisioned', actions: 'startAttestation' },
    INBOUND_UP: { actions: 'inboundUp' },
    INBOUND_DOWN: { actions: 'inboundDown' },
  },
  states: {
    self: {
      initial: 'Boot',
      states: {
        Boot: {
          always: [{ guard: 'provisioned', target: 'Restoring' }, { target: 'NotProvisioned' }],
        },
        NotProvisioned: {
          on: { PROVISION_SELF: { target: 'Issuing', actions: 'queueSelfRequest' } },
        },
        /** Provisioned earlier: the CA must be found again, and fresh leaves issued. */
        Restoring: {
          invoke: {
            src: 'issueCertificates',
            input: { reason: 'boot' },
            onDone: { target: 'Provisioned', actions: [{ type: 'recordIssue', params: ({ event }) => event.output }] },
            onError: {
              target: 'Unavailable',
              actions: { type: 'recordSelfError', params: ({ event }) => toFailure(event.error, 'ISSUE_FAILED') },
            },
          },
          on: { PROVISION_SELF: { actions: 'queueSelfRequest' } },
        },
        /** Provisioned, but no usable credentials (token gone, CA missing): retried, or re-provisioned. */
        Unavailable: {
          entry: { type: 'answerSelfRequests', params: ({ context }) => context.selfError },
          after: { issueRetry: 'Restoring' },
          on: { PROVISION_SELF: { target: 'Issuing', actions: 'queueSelfRequest' } },
        },
        Issuing: {
          invoke: {
            src: 'issueCertificates',
            input: { reason: 'provision' },
            onDone: {
              target: 'Provisioned',
              actions: [{ type: 'recordIssue', params: ({ event }) => event.output }],
            },
            onError: [
              {
                guard: 'provisioned',
                target: 'Unavailable',
                actions: { type: 'recordSelfError', params: ({ event }) => toFailure(event.error, 'ISSUE_FAILED') },
              },
              {
                target: 'NotProvisioned',
                actions: [
                  { type: 'recordSelfError', params: ({ event }) => toFailure(event.error, 'ISSUE_FAILED') },
                  { type: 'answerSelfRequests', params: ({ context }) => context.selfError },
                ],
              },
            ],
          },
          on: { PROVISION_SELF: { actions: 'queueSelfRequest' } },
        },
        Provisioned: {
          entry: [{ type: 'answerSelfRequests', params: undefined }, 'spawnStaticPeers'],
          initial: 'Ready',
          states: {
            Ready: {
              after: { leafRenewal: 'Renewing' },
              on: { PROVISION_SELF: { target: 'Renewing', actions: 'queueSelfRequest' } },
            },
            Renewing: {
              invoke: {
                src: 'issueCertificates',
                input: ({ context }) => ({ reason: context.pendingSelfRequests.length ? 'provision' : 'renew' }),
                onDone: {
                  target: 'Ready',
                  actions: [
                    { type: 'recordIssue', params: ({ event }) => event.output },
                    { type: 'answerSelfRequests', params: undefined },
                    raise({ type: 'CREDENTIALS_UPDATED' }),
                  ],
                },
                onError: {
                  target: 'RenewalFailed',
                  actions: [
                    { type: 'recordSelfError', params: ({ event }) => toFailure(event.error, 'ISSUE_FAILED') },
                    { type: 'answerSelfRequests', params: ({ context }) => context.selfError },
                  ],
                },
              },
              on: { PROVISION_SELF: { actions: 'queueSelfRequest' } },
            },
            /** The links keep running on the current leaves; renewal is retried. */
            RenewalFailed: {
              after: { issueRetry: 'Renewing' },
              on: { PROVISION_SELF: { target: 'Renewing', actions: 'queueSelfRequest' } },
            },
          },
        },
      },
    },
    /** The mutual-TLS server: listening while this BMC is provisioned; a failed listen is retried. */
    responder: {
      // Trust and credential changes are handled here, in the one region always active: an event
      // handled by a state of a parallel region is not also handled by the root's `on`.
      on: {
        TRUST_UPDATED: { actions: { type: 'notifyLinks', params: 'TRUST_UPDATED' } },
        CREDENTIALS_UPDATED: { actions: { type: 'notifyLinks', params: 'CREDENTIALS_UPDATED' } },
      },
      initial: 'Off',
      states: {
        Off: {
          always: { guard: 'inProvisionedState', target: 'Listening' },
        },
        Listening: {
          invoke: { id: 'responder', src: 'tlsResponder' },
          // A stopped responder closes its connections without reporting each: forget them all.
          exit: assign({ inbound: {} }),
          on: {
            RESPONDER_FAILED: { target: 'Failed', actions: 'recordResponderFailure' },
            TRUST_UPDATED: { actions: [{ type: 'notifyLinks', params: 'TRUST_UPDATED' }, forwardTo('responder')] },
            CREDENTIALS_UPDATED: { actions: [{ type: 'notifyLinks', params: 'CREDENTIALS_UPDATED' }, forwardTo('responder')] },
          },
        },
        /** Could not listen (port in use, no credentials yet): tried again after listenRetry. */
        Failed: {
          after: { listenRetry: 'Listening' },
        },
      },
    },
  },
});

/** The daemon machine as src/ provides it. */
export type ProvisioningMachine = typeof provisioningMachine;
/** A running daemon actor. */
export type ProvisioningActor = ActorRefFrom<ProvisioningMachine>;
