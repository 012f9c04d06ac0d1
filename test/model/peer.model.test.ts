import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createActor, fromCallback, fromPromise, initialTransition, SimulatedClock, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { backoffDelay } from '../../machines/backoff.ts';
import { selectPeerStatus, type PeerStatus } from '../../machines/dbus-properties.ts';
import type { AttestationTarget, CredentialsEvent, LinkEvent, LinkTarget } from '../../machines/events.ts';
import { peerMachine, reattestation, trustedFromBefore, type PeerEvent, type PeerInput, type RevocationTarget } from '../../machines/peer.machine.ts';
import { ATTESTATION_REJECTED, DEFAULT_REATTEST_POLICY, reattestDelayMs, reattestSoonMs, type AttestationDone } from '../../machines/reattestation.ts';
import { pathFromEvents } from './path-from-events.ts';
import { CoverageRecorder, machineInventory, missing } from './transition-coverage.ts';

type PeerSnapshot = SnapshotFrom<typeof peerMachine>;
/** Abstract events of the model: real events plus the actor outcomes and timers they stand for. */
type ModelEvent = PeerEvent | { type: `xstate.${string}`; output?: unknown; error?: unknown };

const retry = { baseMs: 100, capMs: 800, fastRetries: 2 };
const base = { name: 'bmc-b', retry, attestationTimeoutMs: 5000, forgetFailedMs: 60_000 };
/** Three kinds of peer: attested and dialable; trusted by the operator; attested but without an address (a ProvisionPeer of a name nothing else knows). */
const variants: Record<string, PeerInput> = {
  attested: { ...base, address: '127.0.0.1', port: 8090, trustedOutOfBand: false },
  static: { ...base, address: '127.0.0.1', port: 8090, trustedOutOfBand: true },
  undialable: { ...base, trustedOutOfBand: false },
  // A name attested in an earlier run (its CA bound), not in LLDP now, named by ProvisionPeer: nothing to dial.
  undialableAttested: { ...base, trustedOutOfBand: false, attested: true },
  // A configured or discovered peer attested before our restart (its CA bound in the trust store): re-attested soon, link or not.
  trustedBefore: { ...base, address: '127.0.0.1', port: 8090, trustedOutOfBand: true, attested: true },
  // An LLDP neighbour a re-attestation revoked before our restart (state.json): refused until ProvisionPeer.
  revokedBefore: { ...base, address: '127.0.0.1', port: 8090, trustedOutOfBand: true, revokedBefore: true },
};

const EVENTS: ModelEvent[] = [
  { type: 'ATTEST' },
  { type: 'ATTEST_BACK' },
  { type: 'xstate.done.actor.0.peer.Attesting', output: true },
  { type: 'xstate.error.actor.0.peer.Attesting', error: new Error('evidence did not match the reference values') },
  // attestationd's verdict against the peer (a code it reports, e.g. MEASUREMENT_MISMATCH): of a peer attested before, it revokes.
  { type: 'xstate.error.actor.0.peer.Attesting', error: { code: 'ATTESTATION_FAILED', message: 'MEASUREMENT_MISMATCH: measurement 3 (config) is 9c1d…, not one of its 1 reference digest(s)' } },
  { type: 'xstate.after.attestationTimeout.peer.Attesting' },
  { type: 'LINK_UP', peerLeaf: 'aa' },
  // The peer presents another leaf than before (a new boot, a renewal).
  { type: 'LINK_UP', peerLeaf: 'bb' },
  { type: 'LINK_DOWN', reason: 'keep-alive timeout' },
  { type: 'LINK_FAILED', reason: 'ECONNREFUSED' },
  { type: 'LINK_REJECTED', reason: 'certificate names bmc-x, not bmc-b' },
  { type: 'xstate.after.retryBackoff.peer.NotConnected.Backoff' },
  { type: 'xstate.after.retryBackoff.peer.NotConnected.Refused' },
  { type: 'xstate.after.forgetFailed.peer.NotDetermined' },
  { type: 'PEER_ANNOUNCED' },
  { type: 'PEER_DIALLED_IN' },
  // The root machine: a revoked peer's LLDP neighbour is announced at another address.
  { type: 'PEER_MOVED', address: '127.0.0.2', port: 8091 },
  { type: 'TRUST_UPDATED' },
  { type: 'CREDENTIALS_UPDATED' },
  { type: 'ATTESTATION_BOUND', bound: false },
  { type: 'ATTESTATION_BOUND', bound: true },
  // A CA placed by hand came (or went): it vouches for any name, this peer's too.
  { type: 'ATTESTATION_BOUND', bound: false, anyName: true },
  { type: 'ATTESTATION_BOUND', bound: false, anyName: false },
  // Re-attestation of an attested peer: soon after a link back, and on its schedule (REATTEST_DUE,
  // raised by the machine with the reattestInterval delay) whatever the state of the link.
  { type: 'xstate.after.reattestSoon.peer.Link.Connected.Due' },
  { type: 'REATTEST_DUE' },
  { type: 'PEER_LEAF_CHANGED' },
  // The leaf an inbound link from the peer presented (forwarded by the root machine): the one noted, or another.
  { type: 'PEER_LEAF_CHANGED', peerLeaf: 'aa' },
  { type: 'PEER_LEAF_CHANGED', peerLeaf: 'bb' },
  { type: 'xstate.done.actor.0.peer.Link.Connected.Reattesting', output: { atMs: 1_700_000_000_000 } },
  { type: 'xstate.error.actor.0.peer.Link.Connected.Reattesting', error: { code: ATTESTATION_REJECTED, message: 'MEASUREMENT_MISMATCH: measurement 3 (config) is 5e0f…, not one of its 1 reference digest(s)' } },
  { type: 'xstate.error.actor.0.peer.Link.Connected.Reattesting', error: { code: 'ATTESTATION_TIMEOUT', message: 'CONNECTION: connect ECONNREFUSED' } },
  { type: 'xstate.after.attestationTimeout.peer.Link.Connected.Reattesting' },
  // The same, while our link to the peer is down (between dials).
  { type: 'xstate.done.actor.0.peer.NotConnected.Reattesting', output: { atMs: 1_700_000_003_600 } },
  { type: 'xstate.error.actor.0.peer.NotConnected.Reattesting', error: { code: ATTESTATION_REJECTED, message: 'MEASUREMENT_MISMATCH: measurement 3 (config) is 77a1…, not one of its 1 reference digest(s)' } },
  { type: 'xstate.error.actor.0.peer.NotConnected.Reattesting', error: { code: 'ATTESTATION_TIMEOUT', message: 'CONNECTION: connect EHOSTUNREACH' } },
  { type: 'xstate.after.attestationTimeout.peer.NotConnected.Reattesting' },
  { type: 'xstate.done.actor.0.peer.Revoking.Removing' },
  { type: 'xstate.error.actor.0.peer.Revoking.Removing', error: new Error('EROFS: read-only file system') },
  { type: 'xstate.after.retryBackoff.peer.Revoking.Retrying' },
];

/** The oracle: what peerConnected must say in each state, written down independently of the selector. */
const EXPECTED_STATUS: Record<string, PeerStatus> = {
  '"NotDetermined"': 'NotDetermined',
  '"Forgotten"': 'NotDetermined',
  '"Attesting"': 'InProgress',
  '"Provisioned"': 'InProgress',
  '{"Link":"InProgress"}': 'InProgress',
  '{"Link":{"Connected":"Due"}}': 'Connected',
  '{"Link":{"Connected":"Trusted"}}': 'Connected',
  '{"Link":{"Connected":"Reattesting"}}': 'Connected',
  '{"Revoking":"Removing"}': 'NotConnected',
  '{"Revoking":"Retrying"}': 'NotConnected',
  '"Revoked"': 'NotConnected',
  '{"NotConnected":"Backoff"}': 'NotConnected',
  '{"NotConnected":"Refused"}': 'NotConnected',
  '{"NotConnected":"Reattesting"}': 'NotConnected',
  '{"NotConnected":"NoAddress"}': 'NotConnected',
};

/** Stories the graph search does not produce on its own: repeated attestation, and a long outage. */
const ev = (type: string): ModelEvent => {
  const found = EVENTS.find((e) => e.type === type);
  if (!found) throw new Error(`no model event ${type}`);
  return found;
};
/** The model's two events of one type, in their order in EVENTS (e.g. an outcome that could not run, and a verdict). */
const twoEvs = (type: string): [ModelEvent, ModelEvent] => {
  const [first, second] = EVENTS.filter((e) => e.type === type);
  if (!first || !second) throw new Error(`fewer than two model events ${type}`);
  return [first, second];
};
const ATTESTED = ev('xstate.done.actor.0.peer.Attesting');
const BACKOFF = ev('xstate.after.retryBackoff.peer.NotConnected.Backoff');
const REFUSED_RETRY = ev('xstate.after.retryBackoff.peer.NotConnected.Refused');
const FAILED = ev('LINK_FAILED');
const REJECTED = ev('LINK_REJECTED');
const FORGET = ev('xstate.after.forgetFailed.peer.NotDetermined');
const [ATTEST_FAILED, ATTEST_VERDICT] = twoEvs('xstate.error.actor.0.peer.Attesting');
const REATTEST_SOON = ev('xstate.after.reattestSoon.peer.Link.Connected.Due');
const REATTEST_DUE = ev('REATTEST_DUE');
const REATTESTED = ev('xstate.done.actor.0.peer.Link.Connected.Reattesting');
const [REJECTED_VERDICT, UNREACHABLE] = twoEvs('xstate.error.actor.0.peer.Link.Connected.Reattesting');
const REATTEST_TIMEOUT = ev('xstate.after.attestationTimeout.peer.Link.Connected.Reattesting');
const NC_REATTESTED = ev('xstate.done.actor.0.peer.NotConnected.Reattesting');
const [NC_REJECTED_VERDICT, NC_UNREACHABLE] = twoEvs('xstate.error.actor.0.peer.NotConnected.Reattesting');
const NC_REATTEST_TIMEOUT = ev('xstate.after.attestationTimeout.peer.NotConnected.Reattesting');
const REVOKED = ev('xstate.done.actor.0.peer.Revoking.Removing');
const REVOKE_FAILED = ev('xstate.error.actor.0.peer.Revoking.Removing');
const REVOKE_RETRY = ev('xstate.after.retryBackoff.peer.Revoking.Retrying');
const NEW_LEAF = twoEvs('LINK_UP')[1];
const ATTEST_TIMEOUT = ev('xstate.after.attestationTimeout.peer.Attesting');
const UNBOUND = { type: 'ATTESTATION_BOUND', bound: false } as const;
const SCENARIOS: Record<string, ModelEvent[][]> = {
  attested: [
    [ev('ATTEST'), ATTESTED, ev('LINK_UP'), ev('LINK_DOWN'), BACKOFF, FAILED, BACKOFF, FAILED, BACKOFF, FAILED, BACKOFF, ev('LINK_UP')],
    [ev('ATTEST'), ATTESTED, ev('LINK_REJECTED'), ev('TRUST_UPDATED'), ev('LINK_UP')],
    [ev('ATTEST'), ev('xstate.after.attestationTimeout.peer.Attesting'), ev('ATTEST'), ATTESTED, ev('LINK_REJECTED'), ev('CREDENTIALS_UPDATED'), ev('LINK_UP')],
    // Trust changed while a dial was in its handshake: that dial starts over with the new trust.
    [ev('ATTEST'), ATTESTED, ev('TRUST_UPDATED'), ev('LINK_UP')],
    // An impostor answers for a while, then the real peer is back: refused dials go on, up to the cap.
    [ev('ATTEST'), ATTESTED, ev('LINK_UP'), ev('LINK_DOWN'), BACKOFF, REJECTED, REFUSED_RETRY, REJECTED, REFUSED_RETRY, FAILED, BACKOFF, REJECTED, REFUSED_RETRY, REJECTED, REFUSED_RETRY, ev('LINK_UP')],
    // LLDP announces the peer again: a link waiting to retry, refused or failed, dials at once.
    [ev('ATTEST'), ATTESTED, REJECTED, ev('PEER_ANNOUNCED'), FAILED, ev('PEER_ANNOUNCED'), ev('LINK_UP'), ev('PEER_ANNOUNCED')],
    // The peer dials us (it trusts us now): a link waiting to retry dials at once; one up is kept.
    [ev('ATTEST'), ATTESTED, FAILED, ev('PEER_DIALLED_IN'), REJECTED, ev('PEER_DIALLED_IN'), ev('LINK_UP'), ev('PEER_DIALLED_IN')],
    // A link back after a loss: re-attested soon, or at once when ProvisionPeer asks.
    [ev('ATTEST'), ATTESTED, ev('LINK_UP'), ev('LINK_DOWN'), BACKOFF, ev('LINK_UP'), ev('ATTEST'), REATTESTED, ev('LINK_DOWN'), BACKOFF, ev('LINK_UP'), REATTEST_SOON, REATTESTED],
    // Re-attested on the interval, three times unreachable in a row (stale), then passing again.
    [ev('ATTEST'), ATTESTED, ev('LINK_UP'), REATTEST_DUE, REATTESTED, REATTEST_DUE, UNREACHABLE, REATTEST_DUE, REATTEST_TIMEOUT, REATTEST_DUE, UNREACHABLE, REATTEST_DUE, REATTEST_TIMEOUT, REATTEST_DUE, REATTESTED],
    // The schedule falls due right after a link back (before reattestSoon): at once.
    [ev('ATTEST'), ATTESTED, ev('LINK_UP'), ev('LINK_DOWN'), BACKOFF, ev('LINK_UP'), REATTEST_DUE, REATTESTED],
    // Our link stays down: re-attested between dials, neither LLDP nor the peer dialling us cuts it short; three that could not run make it stale.
    [ev('ATTEST'), ATTESTED, FAILED, REATTEST_DUE, ev('PEER_ANNOUNCED'), ev('PEER_DIALLED_IN'), NC_REATTEST_TIMEOUT, FAILED, REATTEST_DUE, NC_UNREACHABLE, REJECTED, REATTEST_DUE, NC_REATTEST_TIMEOUT, FAILED, REATTEST_DUE, NC_REATTESTED],
    // A link back after a loss is re-attested soon; a new leaf at once; a verdict against it revokes.
    [ev('ATTEST'), ATTESTED, ev('LINK_UP'), ev('LINK_DOWN'), BACKOFF, NEW_LEAF, REATTESTED, ev('LINK_DOWN'), BACKOFF, ev('LINK_UP'), ev('PEER_LEAF_CHANGED'), REJECTED_VERDICT, REVOKE_FAILED, REVOKE_RETRY, REVOKED, ev('ATTEST_BACK'), ev('ATTEST'), ATTESTED, ev('LINK_UP')],
    // ProvisionPeer on a peer attested before, our link to it down: no verdict (unreachable, timeout)
    // keeps its trust and its link is dialled again; a verdict against it revokes it.
    [ev('ATTEST'), ATTESTED, FAILED, ev('ATTEST'), ATTEST_FAILED, FAILED, ev('ATTEST'), ev('xstate.after.attestationTimeout.peer.Attesting'), ev('LINK_UP'), ev('LINK_DOWN'), ev('ATTEST'), ATTEST_VERDICT, REVOKED, ev('ATTEST'), ATTESTED, ev('LINK_UP')],
    // Revoked, then a ProvisionPeer that fails (a verdict, a timeout): still Revoked; one that passes brings it back.
    [ev('ATTEST'), ATTESTED, ev('LINK_UP'), REATTEST_DUE, REJECTED_VERDICT, REVOKED, ev('ATTEST'), ATTEST_VERDICT, ev('ATTEST'), ATTEST_TIMEOUT, ev('ATTEST'), ATTESTED, ev('LINK_UP')],
    // The CA binding goes while a re-attestation runs (over our link, between dials): its outcome changes nothing.
    [ev('ATTEST'), ATTESTED, ev('LINK_UP'), REATTEST_DUE, UNBOUND, UNREACHABLE, ev('LINK_DOWN'), { type: 'ATTESTATION_BOUND', bound: true }],
    [ev('ATTEST'), ATTESTED, FAILED, REATTEST_DUE, UNBOUND, NC_REATTESTED],
    [ev('ATTEST'), ATTESTED, FAILED, REATTEST_DUE, UNBOUND, NC_UNREACHABLE],
  ],
  revokedBefore: [
    // Its LLDP neighbour moves while it is refused: the same machine, told the new address.
    [ev('PEER_MOVED'), ev('ATTEST'), ATTEST_VERDICT, ev('ATTEST'), ATTEST_FAILED, ev('ATTEST'), ATTESTED, ev('LINK_UP')],
  ],
  undialableAttested: [
    // No address: NotConnected, neither LLDP nor the peer dialling us dials it; re-attested on the schedule.
    [ev('ATTEST'), ATTEST_FAILED, ev('PEER_ANNOUNCED'), ev('PEER_DIALLED_IN'), REATTEST_DUE, NC_UNREACHABLE, UNBOUND, FORGET],
  ],
  static: [
    [ev('CREDENTIALS_UPDATED'), ev('LINK_REJECTED'), ev('CREDENTIALS_UPDATED'), ev('LINK_UP')],
    [ev('LINK_FAILED'), ev('ATTEST'), ATTESTED, ev('LINK_UP')],
    // The peer attested us while our dial was failing: we attest it back once, and only once.
    [ev('ATTEST_BACK'), ATTESTED, ev('LINK_REJECTED'), ev('ATTEST_BACK'), ev('TRUST_UPDATED'), ev('LINK_UP'), ev('ATTEST_BACK')],
  ],
  undialable: [
    [ev('ATTEST'), ATTESTED, ev('ATTEST'), ATTEST_FAILED],
    // Failed twice, timed out once: forgotten only after the last failure.
    [ev('ATTEST'), ATTEST_FAILED, ev('ATTEST'), ev('xstate.after.attestationTimeout.peer.Attesting'), ev('ATTEST'), ATTEST_FAILED, FORGET],
  ],
};

/**
 * The model's notion of "same state": value, attempts (all beyond the fast retries alike) and whether
 * a failure is recorded. What it leaves out never changes where an event leads, so the one snapshot
 * xstate/graph keeps per serialized state is exact for whichever route reached it.
 */
const serializeState = (s: PeerSnapshot) =>
  [
    JSON.stringify(s.value),
    Math.min(s.context.attempt, retry.fastRetries + 1),
    s.context.lastError ? 1 : 0,
    s.context.attested ? 1 : 0,
    s.context.anyNameTrusted ? 1 : 0,
    s.context.justAttested ? 1 : 0,
    s.context.peerLeaf ?? '',
    Math.min(s.context.unreachable, DEFAULT_REATTEST_POLICY.maxUnreachable),
    // reattestScheduled follows from the rest (attested, owed, the state); the replay checks the scheduler agrees.
    s.context.reattestOwed ? 1 : 0,
  ].join('|');

/** Longer than any path of the model runs on the simulated clock: the schedule never fires on its own. */
const NEVER_MS = 1000 * 24 * 3600_000;

/**
 * A real peer actor whose effects (attestation, link) are driven by the test, on a simulated clock.
 * `scheduleOnClock` (the default): REATTEST_DUE comes when the simulated clock reaches the delay the
 * schedule was armed with. Otherwise (the graph's paths, which deliver events in any order) its
 * timer never fires by itself and the model's REATTEST_DUE is delivered the moment it is one of the
 * path, provided one is scheduled: with a configured interval and jitter, it may come before or
 * after any other timer.
 */
function realPeer(input: PeerInput, coverage: CoverageRecorder, opts: { scheduleOnClock?: boolean } = {}) {
  const scheduleOnClock = opts.scheduleOnClock ?? true;
  const clock = new SimulatedClock();
  type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
  let attestation: Pending | undefined;
  let reattestation: Pending | undefined;
  let revocation: Pending | undefined;
  /** The running promise actor each outcome event settles, by the invoking state's id. */
  const running: Record<string, { pending: () => Pending | undefined; state: Parameters<PeerSnapshot['matches']>[0] }> = {
    'peer.Attesting': { pending: () => attestation, state: 'Attesting' },
    'peer.Link.Connected.Reattesting': { pending: () => reattestation, state: { Link: { Connected: 'Reattesting' } } },
    'peer.NotConnected.Reattesting': { pending: () => reattestation, state: { NotConnected: 'Reattesting' } },
    'peer.Revoking.Removing': { pending: () => revocation, state: { Revoking: 'Removing' } },
  };
  const revoked: RevocationTarget[] = [];
  let link: ((e: LinkEvent) => void) | undefined;
  let linksStarted = 0;
  let linksStopped = 0;
  const machine = peerMachine.provide({
    ...(scheduleOnClock ? {} : { delays: { reattestInterval: NEVER_MS } }),
    actors: {
      attestPeer: fromPromise<unknown, AttestationTarget>(
        () => new Promise((resolve, reject) => (attestation = { resolve, reject })),
      ),
      reattestPeer: fromPromise<AttestationDone, AttestationTarget>(
        () => new Promise((resolve, reject) => (reattestation = { resolve: (v) => resolve(v as AttestationDone), reject })),
      ),
      revokePeerTrust: fromPromise<unknown, RevocationTarget>(({ input: target }) => {
        revoked.push(target);
        return new Promise((resolve, reject) => (revocation = { resolve, reject }));
      }),
      tlsClient: fromCallback<CredentialsEvent, LinkTarget>(({ sendBack, input: target }) => {
        assert.equal(target.name, input.name, 'the link must be told which peer it is for');
        link = sendBack;
        linksStarted++;
        return () => {
          linksStopped++;
          link = undefined;
        };
      }),
    },
  });
  const actor = createActor(machine, { input, clock, inspect: coverage.inspect });
  /** The pending REATTEST_DUE in the actor system's scheduler, if any. */
  const scheduled = () => Object.values(actor.system.getSnapshot()._scheduledEvents).find((e) => e.source === actor && e.event.type === 'REATTEST_DUE');
  /** When the pending REATTEST_DUE was armed (simulated clock) and with how many attempts in a row that could not run. */
  let armed: { event: object; atMs: number; unreachable: number; fromBefore: boolean } | undefined;
  /** Notes a newly armed schedule, and checks the context says what the scheduler holds. */
  const noteSchedule = () => {
    const pending = scheduled();
    const context = actor.getSnapshot().context;
    const { reattestScheduled, unreachable } = context;
    if (reattestScheduled) assert.ok(pending, 'reattestScheduled, and a REATTEST_DUE is pending');
    if (scheduleOnClock) assert.equal(pending !== undefined, reattestScheduled, 'a REATTEST_DUE is pending exactly while reattestScheduled');
    if (pending && pending !== armed?.event) armed = { event: pending, atMs: clock.now(), unreachable, fromBefore: trustedFromBefore(context) };
  };
  actor.start();
  coverage.noteSnapshot(actor.getSnapshot());
  const settle = async () => {
    await new Promise((r) => setImmediate(r));
    noteSchedule();
  };
  noteSchedule();

  async function apply(event: ModelEvent): Promise<void> {
    const before = actor.getSnapshot();
    const outcome = /^xstate\.(done|error)\.actor\.0\.(.+)$/.exec(event.type);
    if (outcome) {
      const invoker = running[outcome[2] ?? ''];
      assert.ok(invoker, `${event.type}: a known actor`);
      const pending = invoker.pending();
      if (!pending) {
        // An outcome of an actor that never ran: xstate ignores it (the graph's path holds it as a no-op).
        assert.ok(!before.matches(invoker.state), `${event.type}: its actor must be running in its state`);
        return;
      }
      if (outcome[1] === 'done') pending.resolve((event as { output?: unknown }).output);
      else pending.reject((event as { error?: unknown }).error);
      await settle();
      return;
    }
    switch (event.type) {
      case 'REATTEST_DUE': {
        const pending = scheduled();
        if (!before.context.reattestScheduled) {
          // None scheduled: the machine ignores a stray one (the graph's path holds it as a no-op).
          actor.send(event as PeerEvent);
          break;
        }
        assert.ok(pending && armed, 'REATTEST_DUE: one is scheduled');
        if (!scheduleOnClock) {
          actor.send(event as PeerEvent);
          break;
        }
        const ms = reattestDelayMs({ policy: DEFAULT_REATTEST_POLICY, unreachable: armed.unreachable, retry: input.retry, trustedFromBefore: armed.fromBefore });
        assert.equal(pending.delay, ms, 'armed with the interval (or its backoff after attempts that could not run, or soon for trust from before our start)');
        const left = armed.atMs + ms - clock.now();
        clock.increment(left - 1);
        await settle();
        assert.deepEqual(actor.getSnapshot().value, before.value, `REATTEST_DUE fired before ${ms} ms`);
        assert.equal(actor.getSnapshot().context.reattestScheduled, true, `REATTEST_DUE came before ${ms} ms`);
        clock.increment(1);
        break;
      }
      case 'xstate.after.attestationTimeout.peer.Attesting':
      case 'xstate.after.attestationTimeout.peer.Link.Connected.Reattesting':
      case 'xstate.after.attestationTimeout.peer.NotConnected.Reattesting':
      case 'xstate.after.forgetFailed.peer.NotDetermined':
      case 'xstate.after.retryBackoff.peer.NotConnected.Backoff':
      case 'xstate.after.retryBackoff.peer.NotConnected.Refused':
      case 'xstate.after.retryBackoff.peer.Revoking.Retrying':
      case 'xstate.after.reattestSoon.peer.Link.Connected.Due': {
        // A timer of a state that is not active (a simple path walked again through the finer graph
        // may hold one as a no-op): nothing runs it, and the clock stays where it is.
        const owner = event.type.split('.peer.')[1] ?? '';
        if (!before.matches(owner as Parameters<PeerSnapshot['matches']>[0])) break;
        const ms = event.type.includes('attestationTimeout')
          ? input.attestationTimeoutMs
          : event.type.includes('forgetFailed')
            ? input.forgetFailedMs
            : event.type.includes('reattestSoon')
              ? reattestSoonMs(0.5)
              : backoffDelay(input.retry, before.context.attempt);
        clock.increment(ms - 1);
        await settle();
        assert.deepEqual(actor.getSnapshot().value, before.value, `${event.type} fired before ${ms} ms`);
        clock.increment(1);
        break;
      }
      case 'LINK_UP':
      case 'LINK_DOWN':
      case 'LINK_FAILED':
      case 'LINK_REJECTED':
        assert.ok(link, `${event.type} needs a running link actor`);
        link(event as LinkEvent);
        break;
      default:
        actor.send(event as PeerEvent);
    }
    await settle();
  }
  return { actor, apply, counts: () => ({ linksStarted, linksStopped }), revoked };
}

describe('peer statechart, replayed on the real actor', () => {
  const inventory = machineInventory(peerMachine);
  const coverage = new CoverageRecorder('peer');
  let replayed = 0;

  for (const [variant, input] of Object.entries(variants)) {
    // getPathsFromEvents builds its start from the machine without the input: hand it the real one.
    const [fromState] = initialTransition(peerMachine, input);
    const options = { input, fromState, events: EVENTS as PeerEvent[], serializeState };
    const shortest = getShortestPaths(peerMachine, options);
    // Simple paths over state values only: every loop-free route through the chart.
    const simple = getSimplePaths(peerMachine, { ...options, serializeState: (s) => JSON.stringify(s.value) });
    /** A sequence of model events as a path of the model's graph (serialized as above, so its context is exact). */
    const pathOf = (events: readonly ModelEvent[]) => pathFromEvents(peerMachine, events, options);
    const stories = (SCENARIOS[variant] ?? []).map(pathOf);
    // Simple paths tell states apart by value only, so their snapshots may carry another route's
    // context: walk their events again through the finer graph.
    const paths = [...shortest, ...simple.map((p) => pathOf(p.steps.slice(1).map((step) => step.event)))].concat(stories);
    it(`${variant} peer: ${shortest.length} shortest, ${simple.length} simple, ${stories.length} scenario paths`, async () => {
      assert.ok(shortest.length > 0);
      for (const path of paths) {
        const sut = realPeer(input, coverage, { scheduleOnClock: false });
        const trail: string[] = [];
        for (const step of path.steps) {
          // The graph's paths are typed by the machine's own events; the model's include actor outcomes and timers.
          const event = step.event as ModelEvent;
          trail.push(event.type);
          if (event.type !== 'xstate.init') await sut.apply(event).catch((err: unknown) => assert.fail(`${variant}: ${trail.join(' > ')}: ${String(err)}`));
          const real = sut.actor.getSnapshot();
          const where = `${variant}: ${trail.join(' > ')}`;
          assert.deepEqual(real.value, step.state.value, `state after ${where}`);
          const key = JSON.stringify(real.value);
          assert.equal(selectPeerStatus(real), EXPECTED_STATUS[key], `peerConnected after ${where}`);
          const { linksStarted, linksStopped } = sut.counts();
          assert.equal(linksStarted - linksStopped, real.matches('Link') ? 1 : 0, `one link exactly while linking (${where})`);
          if (real.matches('Revoking') || real.matches('Revoked')) {
            assert.match(real.context.lastError?.message ?? '', /^ATTESTATION_REVOKED: (MEASUREMENT_MISMATCH: measurement 3|revoked by a re-attestation before this BMC restarted|evidence did not match|no attestation verdict within 5 s)/, `lastFailure says why (${where})`);
          }
          // Only a failed ProvisionPeer ends: an attestation failed, and no address, no trust.
          if (real.matches('Forgotten')) {
            assert.equal(real.status, 'done', `a forgotten peer's machine ends (${where})`);
            assert.ok(!input.address && !input.trustedOutOfBand && !real.context.attested, `only a peer without address or trust is forgotten (${where})`);
            assert.match(real.context.lastError?.code ?? '', /^ATTESTATION_/, `only after a failed attestation (${where})`);
          }
        }
        sut.actor.stop();
        replayed++;
      }
    });
  }

  it('a dial in flight when trust or credentials change is started again, so its refusal cannot outlive the change', async () => {
    for (const type of ['TRUST_UPDATED', 'CREDENTIALS_UPDATED'] as const) {
      const sut = realPeer(variants.static as PeerInput, new CoverageRecorder('peer-redial'));
      assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'InProgress' });
      assert.deepEqual(sut.counts(), { linksStarted: 1, linksStopped: 0 });
      await sut.apply({ type });
      assert.deepEqual(sut.counts(), { linksStarted: 2, linksStopped: 1 }, `${type}: the old dial is closed and a new one started`);
      await sut.apply(ev('LINK_UP'));
      assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Trusted' } });
      await sut.apply({ type });
      assert.deepEqual(sut.counts(), { linksStarted: 2, linksStopped: 1 }, `${type}: an established link is kept`);
      sut.actor.stop();
    }
  });

  it('a refused link is dialled again on the backoff schedule, up to the cap, and shows the refusal until it is up', async () => {
    // A static peer whose CA the operator placed by hand: that CA may vouch for it, so an impostor
    // answering in its place must not switch the link off.
    const sut = realPeer({ ...(variants.static as PeerInput), anyNameTrusted: true }, new CoverageRecorder('peer-refused-retry'));
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await sut.apply(REJECTED);
      const refused = sut.actor.getSnapshot();
      assert.deepEqual(refused.value, { NotConnected: 'Refused' });
      assert.equal(refused.context.lastError?.code, 'LINK_REJECTED');
      delays.push(backoffDelay(retry, refused.context.attempt));
      // apply() checks that the retry does not fire a millisecond early.
      await sut.apply(REFUSED_RETRY);
      const dialling = sut.actor.getSnapshot();
      assert.deepEqual(dialling.value, { Link: 'InProgress' }, 'dialled again without any change of trust or credentials');
      assert.equal(dialling.context.lastError?.code, 'LINK_REJECTED', 'the refusal stays visible while the link is dialled again');
    }
    assert.deepEqual(delays, [100, 200, 800, 800, 800], 'doubling from retry_base, then every retry_timer');
    assert.deepEqual(sut.counts(), { linksStarted: 6, linksStopped: 5 });
    await sut.apply(ev('LINK_UP'));
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Trusted' } });
    assert.equal(sut.actor.getSnapshot().context.lastError, undefined);
    assert.equal(sut.actor.getSnapshot().context.attempt, 0);
    sut.actor.stop();
  });

  it('a refused peer no trusted CA may vouch for is not dialled on the backoff, and is dialled at once when trust for it comes', async () => {
    const sut = realPeer(variants.static as PeerInput, new CoverageRecorder('peer-refused-unvouched'));
    await sut.apply(REJECTED);
    await sut.apply(REFUSED_RETRY);
    assert.deepEqual(sut.actor.getSnapshot().value, { NotConnected: 'Refused' }, 'not attested, no CA placed by hand: nothing to retry');
    assert.deepEqual(sut.counts(), { linksStarted: 1, linksStopped: 1 }, 'no second dial');
    await sut.apply(ev('TRUST_UPDATED'));
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'InProgress' }, 'trust for it changed: dialled at once');
    assert.deepEqual(sut.counts(), { linksStarted: 2, linksStopped: 1 });
    await sut.apply(REJECTED);
    sut.actor.send({ type: 'ATTESTATION_BOUND', bound: true });
    await sut.apply(REFUSED_RETRY);
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'InProgress' }, 'attested now: a refusal (an impostor) is retried on the backoff');
    sut.actor.stop();
  });

  // LLDP announcing the peer again, or the peer dialling us (it trusts us now): the same wake.
  for (const [wake, what] of [
    ['PEER_ANNOUNCED', 'an LLDP announcement'],
    ['PEER_DIALLED_IN', 'the peer dialling us'],
  ] as const) {
    it(`${what} dials a waiting link at once, and leaves a dial in flight or a link that is up alone`, async () => {
      for (const failure of [REJECTED, FAILED]) {
        const sut = realPeer(variants.static as PeerInput, new CoverageRecorder(`peer-wake-${wake}`));
        await sut.apply(ev(wake));
        assert.deepEqual(sut.counts(), { linksStarted: 1, linksStopped: 0 }, 'a dial in flight is not restarted');
        await sut.apply(failure);
        assert.deepEqual(sut.actor.getSnapshot().value, { NotConnected: failure === FAILED ? 'Backoff' : 'Refused' });
        await sut.apply(ev(wake));
        assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'InProgress' }, `after ${failure.type}: dialled without waiting for the backoff`);
        assert.deepEqual(sut.counts(), { linksStarted: 2, linksStopped: 1 });
        await sut.apply(ev('LINK_UP'));
        await sut.apply(ev(wake));
        assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Trusted' } });
        assert.deepEqual(sut.counts(), { linksStarted: 2, linksStopped: 1 }, 'an established link is kept');
        sut.actor.stop();
      }
    });
  }

  it('every state and every transition of the peer machine was taken by the real actor', () => {
    assert.ok(replayed > 10);
    assert.deepEqual(missing(inventory.states, coverage.states), [], 'states never entered');
    assert.deepEqual(missing(inventory.transitions, coverage.transitions), [], 'transitions never taken');
  });

  after(() => {
    process.stdout.write(
      `# peer model: ${replayed} paths, ${coverage.states.size}/${inventory.states.size} states, ${coverage.transitions.size}/${inventory.transitions.size} transitions\n`,
    );
  }, { timeout: 60_000 });
});

describe('re-attestation of an attested peer', () => {
  const attested = variants.attested as PeerInput;
  const connected = async () => {
    const sut = realPeer(attested, new CoverageRecorder('peer-reattest'));
    for (const e of [ev('ATTEST'), ATTESTED, ev('LINK_UP')]) await sut.apply(e);
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Trusted' } }, 'just attested: not again at once');
    return sut;
  };

  it('a pass on the interval changes nothing visible: same link, lastAttested moves, no failure', async () => {
    const sut = await connected();
    await sut.apply(REATTEST_DUE);
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Reattesting' } });
    assert.equal(selectPeerStatus(sut.actor.getSnapshot()), 'Connected', 'still Connected while re-attesting');
    await sut.apply(REATTESTED);
    const s = sut.actor.getSnapshot();
    assert.deepEqual(s.value, { Link: { Connected: 'Trusted' } });
    assert.equal(s.context.lastAttestedMs, 1_700_000_000_000);
    assert.equal(s.context.lastVerdict, 'passed');
    assert.equal(s.context.lastError, undefined);
    assert.deepEqual(sut.counts(), { linksStarted: 1, linksStopped: 0 }, 'the link was never closed');
    sut.actor.stop();
  });

  it('a verdict against the peer closes its link, revokes its binding with the reason, and only ProvisionPeer brings it back', async () => {
    const sut = await connected();
    await sut.apply(REATTEST_DUE);
    await sut.apply(REJECTED_VERDICT);
    let s = sut.actor.getSnapshot();
    assert.deepEqual(s.value, { Revoking: 'Removing' });
    assert.deepEqual(sut.counts(), { linksStarted: 1, linksStopped: 1 }, 'our link to it is closed at once');
    assert.equal(s.context.attested, false);
    assert.equal(s.context.revocations, 1);
    assert.equal(s.context.lastError?.code, 'ATTESTATION_REVOKED');
    assert.equal(selectPeerStatus(s), 'NotConnected');
    assert.equal(sut.revoked.length, 1);
    assert.equal(sut.revoked[0]?.name, 'bmc-b');
    assert.match(sut.revoked[0]?.reason ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 3 \(config\)/);
    await sut.apply(REVOKED);
    for (const e of [ev('ATTEST_BACK'), ev('PEER_ANNOUNCED'), ev('PEER_DIALLED_IN'), ev('TRUST_UPDATED')]) await sut.apply(e);
    s = sut.actor.getSnapshot();
    assert.equal(s.value, 'Revoked', 'neither the peer attesting us or dialling us, LLDP nor a trust change brings it back');
    assert.deepEqual(sut.counts(), { linksStarted: 1, linksStopped: 1 }, 'not dialled');
    await sut.apply(ev('ATTEST'));
    assert.equal(sut.actor.getSnapshot().value, 'Attesting');
    await sut.apply(ATTESTED);
    await sut.apply(ev('LINK_UP'));
    s = sut.actor.getSnapshot();
    assert.deepEqual(s.value, { Link: { Connected: 'Trusted' } });
    assert.equal(s.context.attested, true);
    assert.equal(s.context.lastError, undefined);
    sut.actor.stop();
  });

  it(`re-attestations that cannot run keep the trust; ${DEFAULT_REATTEST_POLICY.maxUnreachable} in a row make it stale, a pass clears that`, async () => {
    const sut = await connected();
    for (let i = 1; i <= DEFAULT_REATTEST_POLICY.maxUnreachable; i++) {
      assert.equal(sut.actor.getSnapshot().context.attestationStale, false, `not stale after ${i - 1}`);
      await sut.apply(REATTEST_DUE); // apply() checks the retry comes no earlier than the backoff says
      await sut.apply(i % 2 ? UNREACHABLE : REATTEST_TIMEOUT);
      assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Trusted' } });
      assert.equal(sut.actor.getSnapshot().context.unreachable, i);
    }
    let s = sut.actor.getSnapshot();
    assert.equal(s.context.attestationStale, true);
    assert.equal(s.context.attested, true, 'no verdict: trust is kept');
    assert.equal(s.context.lastVerdict, 'unreachable');
    assert.deepEqual(sut.counts(), { linksStarted: 1, linksStopped: 0 });
    assert.equal(sut.revoked.length, 0);
    await sut.apply(REATTEST_DUE);
    await sut.apply(REATTESTED);
    s = sut.actor.getSnapshot();
    assert.equal(s.context.attestationStale, false);
    assert.equal(s.context.unreachable, 0);
    sut.actor.stop();
  });

  it('with our link down, it is re-attested on the interval all the same: between dials, a pass moves lastAttested, a verdict revokes', async () => {
    const sut = realPeer(attested, new CoverageRecorder('peer-reattest'));
    const s = () => sut.actor.getSnapshot();
    for (const e of [ev('ATTEST'), ATTESTED, FAILED, BACKOFF]) await sut.apply(e);
    assert.deepEqual(s().value, { Link: 'InProgress' });
    // The interval runs out while a dial hangs: owed, and run the moment the dial has failed.
    await sut.apply(REATTEST_DUE);
    assert.deepEqual(s().value, { Link: 'InProgress' }, 'a dial in flight is not cut short');
    assert.equal(s().context.reattestOwed, true);
    await sut.apply(FAILED);
    assert.deepEqual(s().value, { NotConnected: 'Reattesting' }, 'due: re-attested before the next dial');
    await sut.apply(NC_UNREACHABLE);
    assert.deepEqual(s().value, { Link: 'InProgress' }, 'then dialled');
    assert.equal(s().context.unreachable, 1);
    assert.equal(s().context.attested, true, 'no verdict: trust kept');
    // After one that could not run the next comes on the backoff: here before the next dial.
    await sut.apply(FAILED);
    await sut.apply(REATTEST_DUE);
    assert.deepEqual(s().value, { NotConnected: 'Reattesting' });
    await sut.apply(NC_REATTESTED);
    assert.deepEqual(s().value, { Link: 'InProgress' });
    assert.equal(s().context.lastAttestedMs, 1_700_000_003_600, 'lastAttested moves with no link of ours');
    assert.equal(s().context.lastVerdict, 'passed');
    assert.equal(s().context.unreachable, 0);
    // A whole interval later, our dials refused meanwhile: a verdict against it revokes.
    await sut.apply(REATTEST_DUE);
    await sut.apply(REJECTED);
    assert.deepEqual(s().value, { NotConnected: 'Reattesting' });
    await sut.apply(NC_REJECTED_VERDICT);
    assert.deepEqual(s().value, { Revoking: 'Removing' });
    assert.equal(s().context.attested, false);
    assert.equal(s().context.lastError?.code, 'ATTESTATION_REVOKED');
    assert.equal(s().context.revocations, 1);
    assert.equal(sut.revoked.length, 1);
    assert.match(sut.revoked[0]?.reason ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 3 \(config\)/);
    await sut.apply(REVOKED);
    assert.equal(s().value, 'Revoked');
    assert.equal(s().context.reattestScheduled, false, 'nothing left to re-attest');
    const { linksStarted, linksStopped } = sut.counts();
    assert.equal(linksStarted, linksStopped, 'no link of ours left');
    sut.actor.stop();
  });

  it('a link that goes down during a re-attestation leaves it owed: it runs again at once, before the next dial', async () => {
    const sut = realPeer(attested, new CoverageRecorder('peer-reattest'));
    const s = () => sut.actor.getSnapshot();
    for (const e of [ev('ATTEST'), ATTESTED, ev('LINK_UP'), REATTEST_DUE]) await sut.apply(e);
    assert.deepEqual(s().value, { Link: { Connected: 'Reattesting' } });
    await sut.apply(ev('LINK_DOWN'));
    assert.deepEqual(s().value, { NotConnected: 'Reattesting' }, 'the one cut short runs again, not twice at once');
    await sut.apply(ev('PEER_ANNOUNCED'));
    await sut.apply(ev('PEER_DIALLED_IN'));
    assert.deepEqual(s().value, { NotConnected: 'Reattesting' }, 'neither LLDP nor the peer dialling us cuts it short');
    await sut.apply(NC_REATTESTED);
    assert.deepEqual(s().value, { Link: 'InProgress' });
    assert.equal(s().context.reattestScheduled, true, 'the next one is scheduled from this pass');
    sut.actor.stop();
  });

  it('a retry after an attempt that could not run comes on the backoff, not after a whole interval', () => {
    const policy = DEFAULT_REATTEST_POLICY;
    assert.equal(reattestDelayMs({ policy, unreachable: 0, retry }), 3_600_000);
    assert.equal(reattestDelayMs({ policy, unreachable: 1, retry }), 100);
    assert.equal(reattestDelayMs({ policy, unreachable: 9, retry }), 800);
    assert.equal(reattestDelayMs({ policy, unreachable: 0, retry, jitter: 0 }), 3_240_000, '10 % early at most');
    assert.equal(reattestDelayMs({ policy, unreachable: 0, retry, jitter: 0.999999 }), 3_959_999, '10 % late at most');
  });

  it('a new leaf on an inbound link re-attests at once and is noted; the noted leaf again, inbound or on our link, does not', async () => {
    const sut = await connected();
    const s = () => sut.actor.getSnapshot();
    assert.equal(s().context.peerLeaf, 'aa');
    await sut.apply({ type: 'PEER_LEAF_CHANGED', peerLeaf: 'aa' });
    assert.deepEqual(s().value, { Link: { Connected: 'Trusted' } }, 'the leaf already noted: nothing to do');
    await sut.apply({ type: 'PEER_LEAF_CHANGED', peerLeaf: 'bb' });
    assert.deepEqual(s().value, { Link: { Connected: 'Reattesting' } }, 'another leaf inbound: at once');
    assert.equal(s().context.peerLeaf, 'bb', 'and noted');
    await sut.apply({ type: 'PEER_LEAF_CHANGED', peerLeaf: 'bb' });
    await sut.apply(REATTESTED);
    assert.deepEqual(s().value, { Link: { Connected: 'Trusted' } });
    await sut.apply({ type: 'PEER_LEAF_CHANGED', peerLeaf: 'bb' });
    assert.deepEqual(s().value, { Link: { Connected: 'Trusted' } }, 'the same new leaf on the next inbound link: not again');
    // Our link comes back with that leaf: re-attested soon as any link back, not at once as a new leaf.
    await sut.apply(ev('LINK_DOWN'));
    await sut.apply(BACKOFF);
    await sut.apply(NEW_LEAF);
    assert.deepEqual(s().value, { Link: { Connected: 'Due' } }, 'the leaf was noted inbound: no second change');
    await sut.apply({ type: 'PEER_LEAF_CHANGED', peerLeaf: 'bb' });
    assert.deepEqual(s().value, { Link: { Connected: 'Due' } });
    sut.actor.stop();
  });

  it('a link back after a loss, and a new leaf, re-attest; with reattest_interval_s 0 nothing does', async () => {
    const sut = await connected();
    await sut.apply(ev('LINK_DOWN'));
    await sut.apply(BACKOFF);
    await sut.apply(ev('LINK_UP'));
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Due' } }, 'back after a loss: due soon');
    await sut.apply(REATTEST_SOON);
    await sut.apply(REATTESTED);
    await sut.apply(ev('LINK_DOWN'));
    await sut.apply(BACKOFF);
    await sut.apply(NEW_LEAF);
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Reattesting' } }, 'another leaf: at once');
    sut.actor.stop();

    const off = createActor(
      peerMachine.provide({
        ...reattestation({ intervalMs: 0, maxUnreachable: 3 }, () => 0.5),
        actors: { reattestPeer: fromPromise<AttestationDone, AttestationTarget>(async () => ({ atMs: 1 })), tlsClient: fromCallback(() => undefined) },
      }),
      // Attested in an earlier run, dialled at start (an LLDP neighbour).
      { input: { ...(variants.static as PeerInput), attested: true } },
    ).start();
    off.send({ type: 'LINK_UP', peerLeaf: 'aa' });
    assert.deepEqual(off.getSnapshot().value, { Link: { Connected: 'Trusted' } }, 'off: not re-attested on connect');
    off.send({ type: 'PEER_LEAF_CHANGED' });
    off.send({ type: 'PEER_LEAF_CHANGED', peerLeaf: 'bb' });
    off.send({ type: 'ATTEST' });
    assert.deepEqual(off.getSnapshot().value, { Link: { Connected: 'Trusted' } }, 'off: not re-attested at all');
    off.stop();
  });
});

describe('retry policy', () => {
  it('doubles from retry_base for retry_count attempts, then holds at retry_timer', () => {
    assert.deepEqual([1, 2, 3, 4, 9].map((n) => backoffDelay(retry, n)), [100, 200, 800, 800, 800]);
    assert.equal(backoffDelay({ baseMs: 1000, capMs: 30000, fastRetries: 3 }, 3), 4000);
  });
  it('jitter only shortens a delay, by a quarter at most', () => {
    assert.equal(backoffDelay(retry, 1, 0.999), 75);
    assert.equal(backoffDelay(retry, 1, 0), 100);
  });
});

describe('forgetting a failed ProvisionPeer', () => {
  const undialable = variants.undialable as PeerInput;
  const forget = async (sut: ReturnType<typeof realPeer>) => sut.apply(FORGET);

  it('a peer without address or trust is forgotten failed_peer_lifetime after its attestation failed, not before', async () => {
    const sut = realPeer(undialable, new CoverageRecorder('peer-forget'));
    await sut.apply(ev('ATTEST'));
    await sut.apply(ATTEST_FAILED);
    await forget(sut);
    assert.equal(sut.actor.getSnapshot().value, 'Forgotten');
    assert.equal(sut.actor.getSnapshot().status, 'done');
  });

  const kept: Array<[string, PeerInput, ModelEvent[], string]> = [
    // Asked again before the time was up: attesting, so kept however long it takes.
    ['one being attested again', { ...undialable, attestationTimeoutMs: 10 * undialable.forgetFailedMs }, [ev('ATTEST'), ATTEST_FAILED, ev('ATTEST')], 'Attesting'],
    // The trust store got an attested CA for it (attest-back, another run).
    ['one attested meanwhile', undialable, [ev('ATTEST'), ATTEST_FAILED, { type: 'ATTESTATION_BOUND', bound: true }], 'NotDetermined'],
    ['one never attested (no failure)', undialable, [], 'NotDetermined'],
    // A static peer or LLDP neighbour: it is dialled.
    ['one with an address', { ...undialable, address: '192.0.2.7', port: 8090 }, [ev('ATTEST'), ATTEST_FAILED], 'NotDetermined'],
    // Trust placed by the operator: it never waits in NotDetermined.
    ['one trusted by the operator', { ...undialable, trustedOutOfBand: true }, [ev('ATTEST'), ATTEST_FAILED], '{"NotConnected":"NoAddress"}'],
    // Attested (its CA bound): no address to dial, shown NotConnected with why.
    ['one attested before', variants.undialableAttested as PeerInput, [ev('ATTEST'), ATTEST_FAILED], '{"NotConnected":"NoAddress"}'],
  ];
  for (const [what, input, events, state] of kept) {
    it(`never ${what}`, async () => {
      const sut = realPeer(input, new CoverageRecorder('peer-forget'));
      for (const e of events) await sut.apply(e);
      await forget(sut);
      const value = sut.actor.getSnapshot().value;
      assert.equal(typeof value === 'string' ? value : JSON.stringify(value), state);
      assert.equal(sut.actor.getSnapshot().status, 'active');
      sut.actor.stop();
    });
  }
});

describe('a revoked peer stays revoked until a ProvisionPeer passes', () => {
  it('a ProvisionPeer whose attestation fails (a verdict, a timeout) leaves it Revoked, not dialled, with the reason', async () => {
    const sut = realPeer(variants.revokedBefore as PeerInput, new CoverageRecorder('peer-still-revoked'));
    assert.equal(sut.actor.getSnapshot().value, 'Revoked');
    await sut.apply(ev('ATTEST'));
    await sut.apply(ATTEST_VERDICT);
    let s = sut.actor.getSnapshot();
    assert.equal(s.value, 'Revoked', 'a verdict against it: still refused');
    assert.equal(s.context.lastError?.code, 'ATTESTATION_REVOKED');
    assert.match(s.context.lastError?.message ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 3 \(config\)/, "lastFailure is this attestation's verdict");
    assert.equal(selectPeerStatus(s), 'NotConnected');
    await sut.apply(ev('ATTEST_BACK'));
    assert.equal(sut.actor.getSnapshot().value, 'Revoked', 'the peer attesting us does not bring it back');
    await sut.apply(ev('ATTEST'));
    await sut.apply(ATTEST_TIMEOUT);
    s = sut.actor.getSnapshot();
    assert.equal(s.value, 'Revoked', 'no verdict in time: still refused');
    assert.match(s.context.lastError?.message ?? '', /^ATTESTATION_REVOKED: no attestation verdict within 5 s/);
    assert.deepEqual(sut.counts(), { linksStarted: 0, linksStopped: 0 }, 'never dialled');
    await sut.apply(ev('PEER_MOVED'));
    assert.equal(sut.actor.getSnapshot().context.address, '127.0.0.2', 'a move is noted, nothing else');
    await sut.apply(ev('ATTEST'));
    await sut.apply(ATTESTED);
    s = sut.actor.getSnapshot();
    assert.deepEqual(s.value, { Link: 'InProgress' }, 'a pass: dialled, at its new address');
    assert.equal(s.context.revokedBefore, false);
    assert.equal(s.context.attested, true);
    sut.actor.stop();
  });
});

describe('ProvisionPeer of a connected peer that is not attested', () => {
  it('attests it in full: the link closes for the attestation and is dialled again after it', async () => {
    const sut = realPeer(variants.static as PeerInput, new CoverageRecorder('peer-attest-connected'));
    await sut.apply(ev('LINK_UP'));
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Trusted' } });
    await sut.apply(ev('ATTEST'));
    assert.equal(sut.actor.getSnapshot().value, 'Attesting', 'ProvisionPeer starts its attestation');
    assert.deepEqual(sut.counts(), { linksStarted: 1, linksStopped: 1 });
    await sut.apply(ATTESTED);
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'InProgress' });
    assert.equal(sut.actor.getSnapshot().context.attested, true);
    await sut.apply(ev('LINK_UP'));
    await sut.apply(ev('ATTEST'));
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Reattesting' } }, 'attested now: re-attested over the live link');
    sut.actor.stop();
  });
});

describe('an attested peer with no address', () => {
  it('a failed ProvisionPeer shows it NotConnected with why, and its re-attestations are counted, not left owed', async () => {
    const sut = realPeer(variants.undialableAttested as PeerInput, new CoverageRecorder('peer-no-address'));
    await sut.apply(ev('ATTEST'));
    await sut.apply(ATTEST_FAILED);
    let s = sut.actor.getSnapshot();
    assert.deepEqual(s.value, { NotConnected: 'NoAddress' });
    assert.equal(selectPeerStatus(s), 'NotConnected', 'not InProgress for ever');
    assert.equal(s.context.lastError?.message, 'evidence did not match the reference values');
    assert.equal(s.context.attested, true, 'its trust is kept');
    await sut.apply(REATTEST_DUE);
    assert.deepEqual(sut.actor.getSnapshot().value, { NotConnected: 'Reattesting' }, 'the re-attestation due runs');
    await sut.apply(NC_UNREACHABLE);
    s = sut.actor.getSnapshot();
    assert.deepEqual(s.value, { NotConnected: 'NoAddress' });
    assert.equal(s.context.reattestOwed, false);
    assert.equal(s.context.unreachable, 1);
    assert.deepEqual(sut.counts(), { linksStarted: 0, linksStopped: 0 }, 'nothing to dial');
    sut.actor.send(UNBOUND);
    assert.equal(sut.actor.getSnapshot().value, 'NotDetermined', 'its CA gone: a failed ProvisionPeer like any other');
    await sut.apply(FORGET);
    assert.equal(sut.actor.getSnapshot().status, 'done', 'forgotten after failed_peer_lifetime');
  });
});

describe('a re-attestation that ends after the binding went', () => {
  it('a pass does not make the peer attested again', async () => {
    const sut = realPeer(variants.attested as PeerInput, new CoverageRecorder('peer-unbound-reattest'));
    for (const e of [ev('ATTEST'), ATTESTED, ev('LINK_UP'), REATTEST_DUE]) await sut.apply(e);
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: { Connected: 'Reattesting' } });
    sut.actor.send(UNBOUND);
    await sut.apply(REATTESTED);
    const s = sut.actor.getSnapshot();
    assert.deepEqual(s.value, { Link: { Connected: 'Trusted' } });
    assert.equal(s.context.attested, false, 'the CA file was deleted: not attested');
    assert.equal(s.context.reattestScheduled, false, 'nothing to re-attest');
    sut.actor.stop();
  });
});
