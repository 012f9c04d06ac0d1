import { and, assign, cancel, enqueueActions, fromCallback, fromPromise, not, or, raise, setup, stateIn } from 'xstate';
import { backoffDelay, type RetryPolicy } from './backoff.ts';
import type { AttestationTarget, CredentialsEvent, LinkEvent, LinkTarget } from './events.ts';
import { toFailure, type Failure } from './failure.ts';
import {
  ATTESTATION_REJECTED,
  ATTESTATION_REVOKED,
  attestedAtOf,
  DEFAULT_REATTEST_POLICY,
  reattestDelayMs,
  reattestSoonMs,
  type AttestationDone,
  type ReattestPolicy,
  verdictCodeOf,
} from './reattestation.ts';

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
  /**
   * A re-attestation revoked it (in an earlier run: the state file; or in this one) and no
   * ProvisionPeer has attested it since: it starts refused, and stays refused until one passes.
   */
  readonly revokedBefore?: boolean;
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
  /** Wall-clock time (epoch ms) of the last attestation of this peer that passed, this run. */
  readonly lastAttestedMs?: number;
  /** The last attestation's outcome: passed, revoked (a verdict against it), or unreachable (no verdict). */
  readonly lastVerdict?: AttestationVerdict;
  /** SHA-256 fingerprint of the TLS leaf the peer presented on our last link to it. */
  readonly peerLeaf?: string;
  /** Set by an attestation that just passed: the link it leads to need not re-attest at once. */
  readonly justAttested?: boolean;
  /** Re-attestations in a row that could not run (no verdict); 0 after one that ran. */
  readonly unreachable: number;
  /** `unreachable` reached `reattest_max_unreachable`: the peer's trust rests on an old attestation. */
  readonly attestationStale: boolean;
  /** Revocations of this peer's trust in this run (the D-Bus adapter signals each new one). */
  readonly revocations: number;
  /** The next periodic re-attestation is scheduled (REATTEST_DUE raised with the reattestInterval delay). */
  readonly reattestScheduled: boolean;
  /**
   * A re-attestation is owed: it fell due (or was cut short by the link going down) where none could
   * start, e.g. while a dial was in flight; the next state that can re-attest does so at once.
   */
  readonly reattestOwed: boolean;
}

/** How the last attestation of a peer ended, as persisted and shown. */
export type AttestationVerdict = 'passed' | 'revoked' | 'unreachable';

/** The revocation in progress: whose binding goes, and why (for the log and lastFailure). */
export interface RevocationTarget {
  readonly name: string;
  readonly reason: string;
}

/**
 * Events a peer machine accepts: from the root machine, from its link actor, and ATTEST_BACK when
 * the peer has just attested this BMC (our attestation responder said so): attest it in return
 * unless that was done already, so that trust ends up mutual. ATTESTATION_BOUND says whether the
 * trust store (still) holds a CA attested for this peer. PEER_ANNOUNCED: LLDP announced the peer
 * (again), so a link waiting to retry dials at once. PEER_DIALLED_IN: the peer has just opened a
 * mutual-TLS link to us, so it trusts our CA now and a link waiting to retry dials at once too (a
 * refusal that came only from its not trusting us yet is over). PEER_LEAF_CHANGED: the peer presented another TLS
 * leaf (a new boot, a renewal); `peerLeaf` is the leaf an inbound link from it presented (the root
 * machine forwards it), compared here with the one noted last; without it (raised by noteLeaf), the
 * change is already established.
 */
export type PeerEvent =
  | { type: 'ATTEST' }
  | { type: 'PEER_LEAF_CHANGED'; peerLeaf?: string }
  | { type: 'ATTEST_BACK' }
  | { type: 'ATTESTATION_BOUND'; bound: boolean; anyName?: boolean }
  | { type: 'PEER_ANNOUNCED' }
  | { type: 'PEER_DIALLED_IN' }
  | PeerMovedEvent
  | ReattestDueEvent
  | LinkEvent
  | CredentialsEvent;

/**
 * From the root machine: the LLDP neighbour of a revoked peer is announced at another address (its
 * machine is kept, not started afresh, so that the revocation is not lost).
 */
export interface PeerMovedEvent {
  readonly type: 'PEER_MOVED';
  readonly address: string;
  readonly port: number;
}

/**
 * What a peer machine tells the root machine: its trust was revoked (PEER_REVOKED), or a revoked
 * peer passed a ProvisionPeer attestation (PEER_REINSTATED). The root keeps the revoked names, so
 * that a revocation outlives the peer's machine and its LLDP neighbour leaving and coming back.
 */
export type PeerRevocationEvent = { type: 'PEER_REVOKED'; name: string } | { type: 'PEER_REINSTATED'; name: string; atMs?: number };

/**
 * The peer machine raises this to itself, delayed by `reattestInterval` (id REATTEST_TIMER): the
 * periodic re-attestation of an attested peer is due, whatever the state of our link to it.
 */
export interface ReattestDueEvent {
  readonly type: 'REATTEST_DUE';
}

/** Attested, and no verdict on it in this run: its trust comes from before our (re)start. */
export const trustedFromBefore = (context: Pick<PeerContext, 'attested' | 'lastVerdict'>) => context.attested && context.lastVerdict === undefined;

/** The id of the delayed REATTEST_DUE, by which a new schedule cancels the one before. */
const REATTEST_TIMER = 'reattest';

/**
 * The re-attestation policy as guards and delays: the machine runs with the defaults; src/
 * provides the configured policy and real randomness (jitter) with `.provide(reattestation(…))`.
 */
export function reattestation(policy: ReattestPolicy, random: () => number) {
  const on = policy.intervalMs > 0;
  return {
    guards: {
      /** A CA attested for the peer's name is trusted, and re-attestation is on. */
      reattestable: ({ context }: { context: PeerContext }) => on && context.attested,
      /** The link came up without an attestation right before it (a link back after a loss, our restart). */
      reattestOnConnect: ({ context }: { context: PeerContext }) => on && context.attested && context.justAttested !== true,
      /** A periodic re-attestation of this attested peer should be scheduled and is not (see `scheduleReattest`). */
      reattestUnscheduled: ({ context }: { context: PeerContext }) => on && context.attested && !context.reattestScheduled && !context.reattestOwed,
      /** This re-attestation that could not run is one too many in a row: the peer becomes stale. */
      staleNow: ({ context }: { context: PeerContext }) => context.unreachable + 1 >= policy.maxUnreachable,
    },
    delays: {
      reattestInterval: ({ context }: { context: PeerContext }) =>
        reattestDelayMs({ policy, unreachable: context.unreachable, retry: context.retry, jitter: random(), trustedFromBefore: trustedFromBefore(context) }),
      reattestSoon: () => reattestSoonMs(random()),
    },
  };
}

/**
 * A re-attestation running (over our link, or between dials), with no periodic one scheduled
 * meanwhile: a pass, or one that could not run (counted; stale after too many in a row), goes on to
 * `next`; a verdict against the peer revokes it. When the peer's CA binding went while it ran
 * (ATTESTATION_BOUND false), a pass or no verdict changes nothing: the peer stays not attested.
 */
function reattesting(next: string) {
  const noVerdict = [
    { guard: 'staleNow', target: next, actions: ['countUnreachable', 'markStale'] },
    { target: next, actions: 'countUnreachable' },
  ] as const;
  return {
    entry: 'disarmReattest',
    invoke: {
      src: 'reattestPeer',
      input: ({ context }: { context: PeerContext }) => ({ name: context.name, address: context.address, port: context.port }),
      // The binding went while it ran (ATTESTATION_BOUND false): a pass no longer makes it attested.
      onDone: [{ guard: 'attestedBefore', target: next, actions: 'recordAttested' }, { target: next }],
      // No verdict on a peer whose binding went meanwhile: nothing to count against it.
      onError: [{ guard: 'rejected', target: '#peer.Revoking', actions: 'recordRevocation' }, { guard: not('attestedBefore'), target: next }, ...noVerdict],
    },
    after: { attestationTimeout: noVerdict },
  } as const;
}

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
    /** Attests an attested peer again; rejects with code ATTESTATION_REJECTED on a verdict against it. */
    reattestPeer: fromPromise<AttestationDone, AttestationTarget>(notProvided('reattestPeer')),
    /** Removes the peer's name binding from the trust store (one atomic change). */
    revokePeerTrust: fromPromise<unknown, RevocationTarget>(notProvided('revokePeerTrust')),
    tlsClient: fromCallback<CredentialsEvent, LinkTarget>(notProvided('tlsClient')),
  },
  guards: {
    trustedOutOfBand: ({ context }) => context.trustedOutOfBand,
    /** Revoked in an earlier run, and not attested again since. */
    revokedBefore: ({ context }) => context.revokedBefore === true,
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
    owesAttestation: and([
      ({ context }) => !context.attested,
      not(stateIn('Attesting')),
      not(stateIn({ Link: 'Connected' })),
      // Revoked: only a ProvisionPeer brings the peer back, never the peer itself attesting us.
      not(stateIn('Revoking')),
      not(stateIn('Revoked')),
    ]),
    /**
     * The leaf is another than the one noted last: always when noteLeaf raised it; for a leaf an
     * inbound link presented, only when one was noted and this one differs.
     */
    leafChanged: ({ context, event }) =>
      event.type !== 'PEER_LEAF_CHANGED' || event.peerLeaf === undefined || (context.peerLeaf !== undefined && event.peerLeaf !== context.peerLeaf),
    /** A re-attestation is owed and the peer is (still) attested with re-attestation on. */
    reattestOwed: and([({ context }) => context.reattestOwed, 'reattestable']),
    /** The periodic schedule should run now: attested, none scheduled or owed, and no attestation of it running or revoked. */
    scheduleReattest: and([
      'reattestUnscheduled',
      not(or([stateIn('Attesting'), stateIn({ Link: { Connected: 'Reattesting' } }), stateIn({ NotConnected: 'Reattesting' }), stateIn('Revoking'), stateIn('Revoked')])),
    ]),
    /** The REATTEST_DUE that arrived is the one scheduled (a stray one is ignored). */
    reattestScheduled: ({ context }) => context.reattestScheduled,
    /** A CA attested for the peer's name is trusted here (it was attested before, and not revoked since). */
    attestedBefore: ({ context }) => context.attested,
    /** A full attestation of a peer attested before ended in attestationd's verdict against it (not: could not run). */
    verdictAgainstAttested: ({ context, event }) =>
      context.attested && verdictCodeOf(toFailure((event as { error?: unknown }).error).message) !== undefined,
    /** The re-attestation ended in a verdict against the peer. */
    rejected: ({ event }) => toFailure((event as { error?: unknown }).error).code === ATTESTATION_REJECTED,
    ...reattestation(DEFAULT_REATTEST_POLICY, () => 0.5).guards,
  },
  delays: {
    attestationTimeout: ({ context }) => context.attestationTimeoutMs,
    forgetFailed: ({ context }) => context.forgetFailedMs,
    retryBackoff: ({ context }) => backoffDelay(context.retry, context.attempt),
    ...reattestation(DEFAULT_REATTEST_POLICY, () => 0.5).delays,
  },
  actions: {
    /** The next periodic re-attestation, reattestInterval from now (the one scheduled before, if any, is cancelled). */
    armReattest: enqueueActions(({ enqueue }) => {
      enqueue(cancel(REATTEST_TIMER));
      enqueue(raise({ type: 'REATTEST_DUE' }, { id: REATTEST_TIMER, delay: 'reattestInterval' }));
      enqueue.assign({ reattestScheduled: true });
    }),
    /** No periodic re-attestation pending, and none owed: one is starting, or trust just changed. */
    disarmReattest: enqueueActions(({ enqueue }) => {
      enqueue(cancel(REATTEST_TIMER));
      enqueue.assign({ reattestScheduled: false, reattestOwed: false });
    }),
    recordFailure: assign({
      lastError: (_, params: { code: string; reason: string }) => ({ code: params.code, message: params.reason }),
    }),
    /** A full attestation failed: why, for lastFailure. */
    recordAttestationFailure: assign({ lastError: ({ event }) => toFailure((event as { error?: unknown }).error, 'ATTESTATION_FAILED') }),
    /** A full attestation gave no verdict in time. */
    recordAttestationTimeout: assign({
      lastError: ({ context }) => ({ code: 'ATTESTATION_TIMEOUT', message: `no attestation verdict within ${context.attestationTimeoutMs / 1000} s` }),
    }),
    countAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
    resetAttempts: assign({ attempt: 0, lastError: undefined }),
    /** An attestation passed (first or again): trusted as of its verdict. */
    recordAttested: assign({
      attested: true,
      lastError: undefined,
      lastVerdict: 'passed' as const,
      lastAttestedMs: ({ context, event }) => attestedAtOf((event as { output?: unknown }).output) ?? context.lastAttestedMs,
      unreachable: 0,
      attestationStale: false,
      reattestOwed: false,
    }),
    /** A re-attestation could not run (no verdict): counted, trust kept. */
    countUnreachable: assign({
      unreachable: ({ context }) => context.unreachable + 1,
      lastVerdict: 'unreachable' as const,
      reattestOwed: false,
    }),
    markStale: assign({ attestationStale: true }),
    /** Tells the root machine the peer is revoked (a peer machine run on its own, in tests, has no root to tell). */
    reportRevoked: enqueueActions(({ context, self, enqueue }) => {
      const event: PeerRevocationEvent = { type: 'PEER_REVOKED', name: context.name };
      if (self._parent) enqueue.sendParent(event);
    }),
    /** An attestation passed: a revoked peer is no longer refused, and the root machine is told so. */
    reinstate: enqueueActions(({ context, event: done, self, enqueue }) => {
      if (context.revokedBefore !== true) return;
      enqueue.assign({ revokedBefore: false });
      const atMs = attestedAtOf((done as { output?: unknown }).output);
      const event: PeerRevocationEvent = { type: 'PEER_REINSTATED', name: context.name, ...(atMs !== undefined ? { atMs } : {}) };
      if (self._parent) enqueue.sendParent(event);
    }),
    /** A revoked peer's ProvisionPeer attestation failed (a verdict, or none): still refused, and why. */
    recordStillRevoked: assign({
      lastError: ({ event }) => ({ code: ATTESTATION_REVOKED, message: `${ATTESTATION_REVOKED}: ${toFailure((event as { error?: unknown }).error).message}` }),
    }),
    /** A revoked peer's ProvisionPeer attestation gave no verdict in time: still refused. */
    recordStillRevokedTimeout: assign({
      lastError: ({ context }) => ({ code: ATTESTATION_REVOKED, message: `${ATTESTATION_REVOKED}: no attestation verdict within ${context.attestationTimeoutMs / 1000} s` }),
    }),
    /** Keeps the peer's TLS leaf fingerprint; another one than last time (a new boot, a renewal) re-attests. */
    noteLeaf: enqueueActions(({ context, event, enqueue }) => {
      const leaf = event.type === 'LINK_UP' ? event.peerLeaf : undefined;
      if (leaf === undefined) return;
      if (context.peerLeaf !== undefined && context.peerLeaf !== leaf) enqueue.raise({ type: 'PEER_LEAF_CHANGED' });
      enqueue.assign({ peerLeaf: leaf });
    }),
    /** Keeps the leaf an inbound link presented (PEER_LEAF_CHANGED from the root machine), so that it re-attests once. */
    noteInboundLeaf: assign({
      peerLeaf: ({ context, event }) => (event.type === 'PEER_LEAF_CHANGED' ? event.peerLeaf ?? context.peerLeaf : context.peerLeaf),
    }),
    /** A verdict against the peer: its trust goes, and it stays refused until a ProvisionPeer. */
    recordRevocation: assign({
      attested: false,
      justAttested: false,
      lastVerdict: 'revoked' as const,
      unreachable: 0,
      attestationStale: false,
      reattestOwed: false,
      revocations: ({ context }) => context.revocations + 1,
      lastError: ({ event }) => ({ code: ATTESTATION_REVOKED, message: `${ATTESTATION_REVOKED}: ${toFailure((event as { error?: unknown }).error).message}` }),
    }),
  },
}).createMachine({
  id: 'peer',
  context: ({ input }) => ({
    ...input,
    attempt: 0,
    attested: input.attested ?? false,
    unreachable: 0,
    attestationStale: false,
    revocations: 0,
    reattestScheduled: false,
    reattestOwed: false,
  }),
  initial: 'NotDetermined',
  /**
   * The periodic re-attestation lives here, not in a link state: an attested peer is re-attested
   * every reattest_interval_s (jittered) whether our link to it is up, being dialled, or down (it may
   * still dial us, or be down). Whenever it is attested and nothing is scheduled, owed or running, the
   * next one is scheduled (from its last verdict: a pass restarts the interval).
   */
  always: { guard: 'scheduleReattest', actions: 'armReattest' },
  on: {
    // Due: the state that can re-attest now does so (Connected, or NotConnected between dials);
    // one that cannot (a dial in flight) leaves it owed until the link is up or has failed.
    REATTEST_DUE: { guard: 'reattestScheduled', actions: assign({ reattestScheduled: false, reattestOwed: true }) },
    ATTEST_BACK: { guard: 'owesAttestation', target: '.Attesting' },
    PEER_MOVED: { actions: assign(({ event }) => ({ address: event.address, port: event.port })) },
    ATTESTATION_BOUND: {
      actions: [
        assign({
          attested: ({ event }) => event.bound,
          anyNameTrusted: ({ context, event }) => event.anyName ?? context.anyNameTrusted,
        }),
        // No attested CA for it any more: nothing to re-attest.
        enqueueActions(({ event, enqueue }) => {
          if (!event.bound) enqueue('disarmReattest');
        }),
      ],
    },
  },
  states: {
    NotDetermined: {
      always: [
        {
          guard: 'revokedBefore',
          target: 'Revoked',
          actions: assign({
            lastError: { code: ATTESTATION_REVOKED, message: `${ATTESTATION_REVOKED}: revoked by a re-attestation before this BMC restarted; refused until ProvisionPeer attests it again` },
            lastVerdict: 'revoked' as const,
          }),
        },
        { guard: 'trustedOutOfBand', target: 'Provisioned' },
      ],
      // Each failed attestation starts the time again; a new ProvisionPeer (ATTEST) stops it.
      after: { forgetFailed: { guard: 'forgettable', target: 'Forgotten' } },
      on: { ATTEST: 'Attesting' },
    },
    /** The machine ends: the daemon machine stops it and drops the peer (its D-Bus object leaves). */
    Forgotten: { type: 'final' },
    /**
     * A full attestation (ProvisionPeer, attest-back): the periodic schedule starts again from its
     * verdict. Of a peer attested before, a verdict against it revokes it as a re-attestation's
     * would; one that could not run leaves its trust as it was (back to its link, the failure
     * recorded). A revoked peer stays Revoked unless it passes (lastFailure says why it failed); a
     * peer not attested yet goes back to NotDetermined.
     */
    Attesting: {
      entry: 'disarmReattest',
      invoke: {
        src: 'attestPeer',
        input: ({ context }) => ({ name: context.name, address: context.address, port: context.port }),
        onDone: { target: 'Provisioned', actions: ['recordAttested', assign({ justAttested: true }), 'reinstate'] },
        onError: [
          { guard: 'verdictAgainstAttested', target: 'Revoking', actions: 'recordRevocation' },
          { guard: 'revokedBefore', target: 'Revoked', actions: 'recordStillRevoked' },
          { guard: 'attestedBefore', target: 'Provisioned', actions: 'recordAttestationFailure' },
          { target: 'NotDetermined', actions: 'recordAttestationFailure' },
        ],
      },
      after: {
        attestationTimeout: [
          { guard: 'revokedBefore', target: 'Revoked', actions: 'recordStillRevokedTimeout' },
          { guard: 'attestedBefore', target: 'Provisioned', actions: 'recordAttestationTimeout' },
          { target: 'NotDetermined', actions: 'recordAttestationTimeout' },
        ],
      },
    },
    /** Attested (or trusted out of band): dialled, or, with no address to dial, NotConnected.NoAddress. */
    Provisioned: {
      always: [{ guard: 'dialable', target: 'Link' }, { target: 'NotConnected.NoAddress' }],
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
            LINK_UP: { target: 'Connected', actions: ['resetAttempts', 'noteLeaf'] },
            // ProvisionPeer while a dial is in flight: the attestation is what was asked for.
            ATTEST: '#peer.Attesting',
            // The dial in flight started with the old trust or credentials, and a refusal it ends in
            // would wait in Refused for a change that has already happened: dial again with the new.
            TRUST_UPDATED: { target: '#peer.Link', reenter: true },
            CREDENTIALS_UPDATED: { target: '#peer.Link', reenter: true },
          },
        },
        /**
         * The link is up. An attested peer is attested again: soon after a link that comes back
         * (or after our restart), at once when its TLS leaf changed (seen on our link, or on an
         * inbound link from it) or ProvisionPeer asks, and every
         * reattest_interval_s (jittered). A pass changes nothing visible but lastAttested; a verdict
         * against it revokes (Revoking); one that could not run is counted (attestationStale).
         */
        Connected: {
          initial: 'Entered',
          states: {
            Entered: {
              always: [
                { guard: 'reattestOnConnect', target: 'Due' },
                { target: 'Trusted', actions: assign({ justAttested: false }) },
              ],
            },
            /** Due soon (spread by jitter, so a rack coming back does not attest in lockstep). */
            Due: {
              always: { guard: 'reattestOwed', target: 'Reattesting' },
              after: { reattestSoon: 'Reattesting' },
              on: {
                ATTEST: 'Reattesting',
                PEER_LEAF_CHANGED: { guard: 'leafChanged', target: 'Reattesting', actions: 'noteInboundLeaf' },
              },
            },
            Trusted: {
              always: { guard: 'reattestOwed', target: 'Reattesting' },
              on: {
                // ProvisionPeer: an attested peer is re-attested over the live link (not at all with
                // re-attestation off); a peer not attested (its trust placed by the operator) gets a full
                // attestation: our link to it closes, and is dialled again after the verdict.
                ATTEST: [
                  { guard: 'reattestable', target: 'Reattesting' },
                  { guard: not('attestedBefore'), target: '#peer.Attesting' },
                ],
                PEER_LEAF_CHANGED: { guard: and(['leafChanged', 'reattestable']), target: 'Reattesting', actions: 'noteInboundLeaf' },
              },
            },
            /** Cut short by the link going down, it is owed: NotConnected runs it again at once. */
            Reattesting: { ...reattesting('Trusted'), exit: assign({ reattestOwed: true }) },
          },
        },
      },
      on: {
        LINK_DOWN: {
          target: 'NotConnected',
          actions: [
            // A link back after a loss is attested again before it is trusted for long.
            assign({ justAttested: false }),
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
          always: { guard: 'reattestOwed', target: 'Reattesting' },
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
          always: { guard: 'reattestOwed', target: 'Reattesting' },
          after: { retryBackoff: { guard: 'mayBeVouchedFor', target: '#peer.Link' } },
          on: { TRUST_UPDATED: '#peer.Link', CREDENTIALS_UPDATED: '#peer.Link' },
        },
        /**
         * The periodic re-attestation of a peer our link to it is down from (it may still dial us):
         * it takes the place of the wait before the next dial, and the dial follows it. Verdicts as
         * in Connected: a pass updates lastAttested, one against the peer revokes, one that could not
         * run is counted (attestationStale). Neither LLDP announcing the peer nor the peer dialling
         * us cuts it short.
         */
        Reattesting: { ...reattesting('#peer.Provisioned'), on: { PEER_ANNOUNCED: {}, PEER_DIALLED_IN: {} } },
        /**
         * Attested, but no address to dial (a ProvisionPeer of a name that is neither a static peer nor
         * an LLDP neighbour now): lastFailure says why its attestation could not run. Re-attested on
         * the schedule (each could not run: stale in the end); a CA no longer bound to its name makes
         * it a failed ProvisionPeer like any other (NotDetermined, forgotten after failed_peer_lifetime).
         */
        NoAddress: {
          always: [
            { guard: 'reattestOwed', target: 'Reattesting' },
            { guard: and([not('attestedBefore'), not('trustedOutOfBand')]), target: '#peer.NotDetermined' },
          ],
          on: { PEER_ANNOUNCED: {}, PEER_DIALLED_IN: {} },
        },
      },
      on: { ATTEST: 'Attesting', PEER_ANNOUNCED: '#peer.Link', PEER_DIALLED_IN: '#peer.Link' },
    },
    /**
     * A re-attestation's verdict went against the peer: its name binding leaves the trust store (one
     * atomic change; the responder then drops its inbound links), our link to it is already closed.
     * A failed write is retried on the backoff.
     */
    Revoking: {
      entry: 'reportRevoked',
      initial: 'Removing',
      states: {
        Removing: {
          invoke: {
            src: 'revokePeerTrust',
            input: ({ context }) => ({ name: context.name, reason: context.lastError?.message ?? ATTESTATION_REVOKED }),
            onDone: '#peer.Revoked',
            onError: 'Retrying',
          },
        },
        Retrying: {
          after: { retryBackoff: 'Removing' },
        },
      },
    },
    /**
     * Refused until a ProvisionPeer attests it again: not dialled, not attested back on its own. A
     * ProvisionPeer whose attestation fails (a verdict, or none) leaves it here.
     */
    Revoked: {
      entry: assign({ revokedBefore: true }),
      on: { ATTEST: 'Attesting' },
    },
  },
});

/** A peer machine as src/ provides it. */
export type PeerMachine = typeof peerMachine;
