import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createActor, fromCallback, fromPromise, initialTransition, SimulatedClock, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { selectDbusProperties, PEER_CONNECTION_STATUS_PREFIX, type PeerStatus } from '../../machines/dbus-properties.ts';
import { selectPublishedProperties } from '../../machines/dbus-properties.ts';
import type {
  AttestationTarget,
  AttestingBackEvent,
  CredentialsEvent,
  IssueRequest,
  IssueSummary,
  LinkTarget,
  ResponderAttestedEvent,
  ResponderEvent,
  TrustStoreChangedEvent,
} from '../../machines/events.ts';
import { peerMachine, type RevocationTarget } from '../../machines/peer.machine.ts';
import { selectPeerViews } from '../../machines/peer-projection.ts';
import { attestationRecords } from '../../src/state/attestation-history.ts';
import {
  MAX_TIMER_MS,
  provisioningMachine,
  renewalDelayMs,
  type ProvisioningEvent,
  type ProvisioningInput,
  type SelfProvisionResult,
} from '../../machines/provisioning.machine.ts';
import { quietEffects } from '../harness/quiet-effects.ts';
import { pathFromEvents } from './path-from-events.ts';
import { CoverageRecorder, machineInventory, missing } from './transition-coverage.ts';

type Snapshot = SnapshotFrom<typeof provisioningMachine>;
type ModelEvent = ProvisioningEvent | { type: `xstate.${string}`; output?: unknown; error?: unknown };

const LIFETIME_MS = 90_000;
const summary: IssueSummary = { caFingerprint: 'ab12', leafNotBefore: 1_000_000, leafNotAfter: 1_000_000 + LIFETIME_MS, leafLifetimeMs: LIFETIME_MS, generation: 1 };
const tokenError = Object.assign(new Error('C_Login: CKR_PIN_INCORRECT'), { code: 'PIN_INCORRECT' });

const base: ProvisioningInput = {
  provisioned: false,
  staticPeers: [],
  retry: { baseMs: 100, capMs: 800, fastRetries: 2 },
  // Peer timers are the peer model's business; here simulated hours pass (renewals) and attestations stay pending.
  attestationTimeoutMs: 24 * 3600_000,
  issueRetryMs: 3000,
  attestedNames: [],
  // Far shorter than every self-region delay: while the responder waits to listen again, its timer
  // is always the first due, so the model may only fire that one (see eventsFor).
  listenRetryMs: 10,
  // One peer through ProvisionPeer alone: bmc-b fills the cap, bmc-c is refused until bmc-b is forgotten.
  maxRequestedPeers: 1,
  // Shorter than every self-region delay still to come when a failed bmc-b is forgotten (see eventsFor).
  forgetFailedMs: 5,
  // One departed neighbour without trust is remembered: a second one that leaves replaces it.
  maxDepartedPeers: 1,
  clockPlausible: true,
  // Owned from the start in every variant but one: the lock has its own variant below.
  ownsBusName: true,
};
/** The variant that starts as the daemon does: waiting in OwningName for the busName actor. */
const WAITING = 'waiting for the bus name';
const variants: Record<string, ProvisioningInput> = {
  fresh: base,
  restored: { ...base, provisioned: true },
  'restored, implausible clock at start': { ...base, provisioned: true, clockPlausible: false, clockProblem: 'it says 1970-01-01T00:00:00.000Z, before this build' },
  'with static peers': { ...base, staticPeers: [{ name: 'bmc-s', address: '127.0.0.1', port: 8090 }] },
  [WAITING]: { ...base, provisioned: true, ownsBusName: false },
};

const E = {
  self: { type: 'PROVISION_SELF', requestId: 'r1' },
  issued: { type: 'xstate.done.actor.0.provisioning.self.Issuing', output: summary },
  issueFailed: { type: 'xstate.error.actor.0.provisioning.self.Issuing', error: tokenError },
  restored: { type: 'xstate.done.actor.0.provisioning.self.Restoring', output: summary },
  restoreFailed: { type: 'xstate.error.actor.0.provisioning.self.Restoring', error: tokenError },
  renewed: { type: 'xstate.done.actor.0.provisioning.self.Provisioned.Renewing', output: summary },
  renewFailed: { type: 'xstate.error.actor.0.provisioning.self.Provisioned.Renewing', error: tokenError },
  renewalDue: { type: 'xstate.after.leafRenewal.provisioning.self.Provisioned.Ready' },
  retryRestore: { type: 'xstate.after.issueRetry.provisioning.self.Unavailable' },
  retryRenewal: { type: 'xstate.after.issueRetry.provisioning.self.Provisioned.RenewalFailed' },
  peer: { type: 'PROVISION_PEER', id: 'bmc-b' },
  peerC: { type: 'PROVISION_PEER', id: 'bmc-c' },
  peerStatic: { type: 'PROVISION_PEER', id: 'bmc-s' },
  peerNeighbour: { type: 'PROVISION_PEER', id: 'bmc-n' },
  // bmc-b's attestation fails and, failed_peer_lifetime later, its machine ends (Forgotten).
  forgotten: { type: 'xstate.done.actor.peer:bmc-b' },
  inboundUp: { type: 'INBOUND_UP', peer: 'bmc-c', connectionId: 'c1' },
  inboundDown: { type: 'INBOUND_DOWN', peer: 'bmc-c', connectionId: 'c1', reason: 'keep-alive timeout' },
  responderFailed: { type: 'RESPONDER_FAILED', reason: 'EADDRINUSE' },
  retryListen: { type: 'xstate.after.listenRetry.provisioning.responder.Failed' },
  trust: { type: 'TRUST_UPDATED' },
  attestedNames: { type: 'ATTESTED_NAMES', names: ['bmc-b', 'bmc-n'] },
  noAttestedNames: { type: 'ATTESTED_NAMES', names: [] },
  neighbour: { type: 'LLDP_NEIGHBOR', name: 'bmc-n', address: '192.0.2.9', port: 8090 },
  moved: { type: 'LLDP_NEIGHBOR', name: 'bmc-n', address: '192.0.2.10', port: 8090 },
  gone: { type: 'LLDP_GONE', name: 'bmc-n' },
  neighbourM: { type: 'LLDP_NEIGHBOR', name: 'bmc-m', address: '192.0.2.11', port: 8090 },
  goneM: { type: 'LLDP_GONE', name: 'bmc-m' },
  clockBad: { type: 'CLOCK_IMPLAUSIBLE', reason: 'it says 1970-01-01T00:00:00.000Z, before this build' },
  clockGood: { type: 'CLOCK_PLAUSIBLE' },
  jumped: { type: 'CLOCK_JUMPED', byMs: 86_400_000 },
  owned: { type: 'BUS_NAME_OWNED' },
} satisfies Record<string, ModelEvent>;

/** The effects spawned once the bus name is owned (startWatching). */
const WATCHES = ['clockWatch', 'trustStoreWatch', 'lldpDiscovery', 'responderAttestations', 'dbusProjection', 'persistAttestations'];

/** Each delayed event: the state whose timer it is, and its delay. */
const TIMERS: Record<string, { state: string; ms: (input: ProvisioningInput) => number }> = {
  [E.renewalDue.type]: { state: 'provisioning.self.Provisioned.Ready', ms: () => renewalDelayMs(summary.leafLifetimeMs) },
  [E.retryRestore.type]: { state: 'provisioning.self.Unavailable', ms: (i) => i.issueRetryMs },
  [E.retryRenewal.type]: { state: 'provisioning.self.Provisioned.RenewalFailed', ms: (i) => i.issueRetryMs },
  [E.retryListen.type]: { state: 'provisioning.responder.Failed', ms: (i) => i.listenRetryMs },
};

/** bmc-b exists only through ProvisionPeer, and nothing trusts it: a failed attestation makes it forgettable. */
const forgettable = (s: Snapshot) =>
  s.context.peerNames.includes('bmc-b') && !s.context.attestedNames.includes('bmc-b') && !('bmc-b' in s.context.discovered);

/**
 * The lock: in OwningName only the busName actor speaks (the name is owned before the machine
 * starts; a second instance never starts one). Once it serves the name, the graph search leaves the
 * rest to the variants that start owned.
 */
const lockEventsFor = (s: Snapshot): ModelEvent[] => (s.matches({ self: 'OwningName' }) ? [E.owned] : []);

/** Inbound and responder events only come from the responder, which runs while the responder region listens. */
const eventsFor = (s: Snapshot): ModelEvent[] => {
  if (s.matches({ self: 'OwningName' })) return lockEventsFor(s);
  const selfTimers = [E.renewalDue, E.retryRestore, E.retryRenewal];
  // Forgetting runs the clock for forgetFailedMs: not while the responder's shorter retry is due.
  const forget = forgettable(s) && !s.matches({ responder: 'Failed' }) ? [E.forgotten, E.peerC] : [];
  const common: ModelEvent[] = [E.self, E.issued, E.issueFailed, E.restored, E.restoreFailed, E.renewed, E.renewFailed,
    ...(s.matches({ responder: 'Failed' }) ? [] : selfTimers), E.retryListen, E.peer, ...forget, E.trust,
    // The clock is explored without static peers (their dials never depend on it); a jump matters only once provisioned.
    ...(s.context.staticPeers.length ? [] : [s.context.clockPlausible ? E.clockBad : E.clockGood, ...(s.matches({ self: 'Provisioned' }) ? [E.jumped] : [])]),
    // Discovery and attested names are explored where they meet static peers; the other variants would only grow the graph.
    ...(s.context.staticPeers.length
      ? [E.neighbour, E.gone, ...('bmc-n' in s.context.discovered ? [E.moved] : []), s.context.attestedNames.length ? E.noAttestedNames : E.attestedNames]
      : [])];
  return s.matches({ responder: 'Listening' }) ? [...common, E.inboundUp, E.inboundDown, E.responderFailed] : common;
};

/**
 * The model's notion of "same state": the state value plus every context fact the assertions below
 * read. What it leaves out (the queue's length beyond one, error texts, connection ids, leaf dates)
 * never changes where an event leads, so the one snapshot xstate/graph keeps per serialized state
 * carries exactly the facts of whichever route reached it.
 */
const serializeState = (s: Snapshot) =>
  JSON.stringify([s.value, s.context.provisioned, s.context.pendingSelfRequests.length > 0, s.context.peerNames,
    Object.keys(s.context.inbound), Boolean(s.context.selfError), Boolean(s.context.responderError), s.context.discovered, s.context.departed, s.context.attestedNames,
    s.context.clockPlausible, s.context.ownsBusName]);

/** Events only the stories below use: more ProvisionPeer names around the cap. */
const STORY_EVENTS: ModelEvent[] = [E.peerC, E.peerStatic, E.peerNeighbour, E.forgotten, E.neighbourM, E.goneM];

/** Stories beyond the graph search: requests queued during an issuance, repeated attestation. */
const SCENARIOS: Record<string, ModelEvent[][]> = {
  fresh: [
    [E.trust, E.self, E.issueFailed, E.self, E.issued, E.responderFailed, E.trust],
    [E.self, E.issued, E.inboundUp, E.responderFailed, E.retryListen, E.inboundUp, E.renewalDue, E.renewed, E.inboundDown, E.trust],
    [E.self, E.self, E.issued, E.peer, E.peer, E.inboundUp, E.inboundDown, E.renewalDue, E.self, E.renewed],
    // The cap: bmc-c waits until the failed bmc-b is forgotten; then bmc-c fills it, and bmc-b is refused.
    [E.self, E.issued, E.peer, E.peerC, E.forgotten, E.peerC, E.peer, E.peerC],
    [E.self, E.issued, E.renewalDue, E.renewFailed, E.retryRenewal, E.renewed, E.self, E.renewFailed, E.self, E.renewed],
    // An implausible clock refuses ProvisionPeer("self") at once; once plausible, it is taken.
    [E.clockBad, E.self, E.clockGood, E.self, E.issued, E.jumped, E.renewed],
  ],
  restored: [
    [E.self, E.restoreFailed, E.retryRestore, E.self, E.restored, E.trust],
    [E.restoreFailed, E.self, E.issueFailed, E.self, E.issued],
    // The clock goes wrong while provisioned: the leaves in use stay, renewal waits, a jump re-issues.
    [E.restored, E.clockBad, E.renewalDue, E.self, E.jumped, E.clockGood, E.self, E.jumped, E.renewed],
    [E.restored, E.self, E.clockBad, E.jumped, E.clockGood, E.renewFailed, E.clockBad, E.retryRenewal, E.clockGood, E.renewed],
    [E.restoreFailed, E.clockBad, E.self, E.clockGood, E.self, E.issued],
  ],
  'restored, implausible clock at start': [
    [E.self, E.clockGood, E.restoreFailed, E.clockBad, E.retryRestore, E.self, E.clockGood, E.restored, E.jumped, E.renewed],
  ],
  // Once the name is owned the daemon starts as every other variant: it restores its credentials.
  [WAITING]: [[E.owned, E.restored, E.self, E.renewed]],
  'with static peers': [
    [E.self, E.issued, E.trust, E.peer],
    // Attested CAs in the trust store: peers spawned later start attested, running ones follow changes.
    [E.attestedNames, E.self, E.issued, E.peer, E.neighbour, E.noAttestedNames, E.trust, E.attestedNames, E.gone, E.neighbour],
    // A neighbour that moves is dialled at its new address; one that goes stops being dialled.
    [E.neighbour, E.self, E.issued, E.moved, E.trust, E.gone, E.neighbour, E.trust],
    // At the cap, a static peer and an LLDP neighbour are still attested on request.
    [E.neighbour, E.self, E.issued, E.peer, E.peerC, E.peerStatic, E.peerNeighbour, E.peerC],
    // Neighbours come and go: one departed neighbour without trust is remembered, the latest;
    // an attested one is kept whatever the cap.
    [E.neighbour, E.self, E.issued, E.gone, E.neighbourM, E.goneM, E.neighbour, E.gone],
    [E.attestedNames, E.neighbour, E.self, E.issued, E.gone, E.neighbourM, E.goneM],
    // An attested CA bound to bmc-b: its failed attestation leaves it known, not forgotten.
    [E.attestedNames, E.self, E.issued, E.peer, E.peerC],
  ],
};

/**
 * Independent oracle for peerConnected. In these tests an attested peer stays attesting
 * (InProgress) and a static peer's link is always refused (NotConnected): so an inbound link →
 * Connected, else an attesting peer → InProgress, else a static peer → NotConnected.
 */
function expectedPeerConnected(model: Snapshot): string {
  // Discovered neighbours are dialled like static peers: refused here, so NotConnected.
  const statics = new Set([...model.context.staticPeers.map((p) => p.name), ...Object.keys(model.context.discovered)]);
  const status: PeerStatus = Object.keys(model.context.inbound).length
    ? 'Connected'
    : model.context.peerNames.some((n) => !statics.has(n))
      ? 'InProgress'
      : model.context.peerNames.length
        ? 'NotConnected'
        : 'NotDetermined';
  return `${PEER_CONNECTION_STATUS_PREFIX}.${status}`;
}

interface Deferred {
  reason: IssueRequest['reason'];
  resolve: (v: IssueSummary) => void;
  reject: (e: unknown) => void;
}

/** What the root's always-running watches see: their sendBack, and what the machine told them. */
interface Watches {
  trustStore?: (e: TrustStoreChangedEvent) => void;
  responder?: (e: ResponderAttestedEvent) => void;
  toldResponder: AttestingBackEvent[];
}

/** How the write of provisioned = true ends: at once, with an error, or not before the test says so. */
type PersistOutcome = 'ok' | 'fails' | 'held';

/** The peer machines' trust-store effect, when a test revokes a peer (the model's peers never get that far). */
type PeerRevocationActors = { revokePeerTrust: ReturnType<typeof fromPromise<unknown, RevocationTarget>> };

function realDaemon(input: ProvisioningInput, coverage: CoverageRecorder, persist: PersistOutcome = 'ok', peerActors?: PeerRevocationActors) {
  const clock = new SimulatedClock();
  const watches: Watches = { toldResponder: [] };
  const persisting: { started: number; finish: () => void } = { started: 0, finish: () => undefined };
  const issuances: Deferred[] = [];
  const issuesStarted = { n: 0 };
  const responder = { running: 0, received: [] as string[], sendBack: undefined as ((e: ResponderEvent) => void) | undefined };
  const emitted: SelfProvisionResult[] = [];
  const links = { started: 0 };
  const attestations = new Map<string, (e: unknown) => void>();
  /** Resolves the pending attestation of a peer (it passed), by name. */
  const passes = new Map<string, (v: unknown) => void>();
  const machine = provisioningMachine.provide({
    actors: {
      ...quietEffects,
      persistProvisioned: fromPromise<void>(
        () =>
          new Promise<void>((resolve, reject) => {
            persisting.started++;
            if (persist === 'ok') resolve();
            else if (persist === 'fails') reject(new Error('EROFS: read-only file system'));
            else persisting.finish = resolve;
          }),
      ),
      trustStoreWatch: fromCallback(({ sendBack }) => {
        watches.trustStore = sendBack;
      }),
      responderAttestations: fromCallback<AttestingBackEvent>(({ sendBack, receive }) => {
        watches.responder = sendBack;
        receive((e) => watches.toldResponder.push(e));
      }),
      // An issuance dropped by its state (a clock jump re-enters it) is no longer pending.
      issueCertificates: fromPromise<IssueSummary, IssueRequest>(
        ({ input: req, signal }) =>
          new Promise((resolve, reject) => {
            const d: Deferred = { reason: req.reason, resolve, reject };
            issuances.push(d);
            issuesStarted.n++;
            signal.addEventListener('abort', () => issuances.splice(issuances.indexOf(d) >>> 0, 1), { once: true });
          }),
      ),
      tlsResponder: fromCallback<CredentialsEvent>(({ sendBack, receive }) => {
        responder.running++;
        responder.sendBack = sendBack;
        receive((e) => responder.received.push(e.type));
        return () => {
          responder.running--;
          responder.sendBack = undefined;
        };
      }),
      peer: peerMachine.provide({
        actors: {
          // Pending until the model fails one (E.forgotten).
          attestPeer: fromPromise<unknown, AttestationTarget>(
            ({ input: target }) =>
              new Promise((resolve, reject) => {
                attestations.set(target.name, reject);
                passes.set(target.name, resolve);
              }),
          ),
          ...peerActors,
          // Every link is refused, so a peer waits in NotConnected.Refused until trust or credentials change.
          tlsClient: fromCallback<CredentialsEvent, LinkTarget>(({ sendBack }) => {
            links.started++;
            sendBack({ type: 'LINK_REJECTED', reason: 'untrusted CA' });
          }),
        },
      }),
    },
  });
  const actor = createActor(machine, { input, clock, inspect: coverage.inspect });
  actor.on('selfProvisionResult', (r) => emitted.push(r));
  actor.start();
  coverage.noteSnapshot(actor.getSnapshot());
  /** When (simulated ms) each active state was entered, so that a timer can be run to its exact due time. */
  const entered = new Map<string, number>();
  const noteEntries = () => {
    const active = new Set(((actor.getSnapshot() as unknown as { _nodes: Array<{ id: string }> })._nodes ?? []).map((n) => n.id));
    for (const id of [...entered.keys()]) if (!active.has(id)) entered.delete(id);
    for (const id of active) if (!entered.has(id)) entered.set(id, clock.now());
  };
  noteEntries();
  const settle = () => new Promise((r) => setImmediate(r));

  const pending = (expected: IssueRequest['reason'][]) => {
    const d = issuances.shift();
    assert.ok(d, 'an issuance must be running');
    assert.ok(expected.includes(d.reason), `issuance reason ${d.reason}, expected ${expected.join('|')}`);
    return d;
  };

  async function apply(event: ModelEvent): Promise<void> {
    const before = actor.getSnapshot();
    switch (event.type) {
      case E.issued.type:
        pending(['provision']).resolve(summary);
        break;
      case E.issueFailed.type:
        pending(['provision']).reject(tokenError);
        break;
      case E.restored.type:
        pending(['boot']).resolve(summary);
        break;
      case E.restoreFailed.type:
        pending(['boot']).reject(tokenError);
        break;
      case E.renewed.type:
        pending(before.context.pendingSelfRequests.length ? ['provision', 'renew'] : ['renew']).resolve(summary);
        break;
      case E.renewFailed.type:
        pending(before.context.pendingSelfRequests.length ? ['provision', 'renew'] : ['renew']).reject(tokenError);
        break;
      case E.renewalDue.type:
      case E.retryRestore.type:
      case E.retryRenewal.type:
      case E.retryListen.type: {
        // Timers of both regions run at once: advance to exactly when this one is due.
        const timer = TIMERS[event.type];
        assert.ok(timer, `no timer for ${event.type}`);
        const enteredAt = entered.get(timer.state);
        assert.ok(enteredAt !== undefined, `${timer.state} is not active`);
        const due = enteredAt + timer.ms(input);
        assert.ok(due > clock.now(), `${event.type} was already due`);
        clock.increment(due - clock.now() - 1);
        await settle();
        assert.deepEqual(actor.getSnapshot().value, before.value, `${event.type} fired before ${timer.ms(input)} ms`);
        clock.increment(1);
        break;
      }
      case E.forgotten.type: {
        // The attestation fails; exactly forgetFailedMs later the peer is forgotten, not before.
        const fail = attestations.get('bmc-b');
        assert.ok(fail, 'bmc-b must be attesting');
        attestations.delete('bmc-b');
        fail(new Error('ATTESTATION_FAILED: measurement 1 does not match'));
        await settle();
        clock.increment(input.forgetFailedMs - 1);
        await settle();
        assert.ok(actor.getSnapshot().context.peerNames.includes('bmc-b'), `bmc-b forgotten before ${input.forgetFailedMs} ms`);
        clock.increment(1);
        break;
      }
      case 'INBOUND_UP':
      case 'INBOUND_DOWN':
      case 'RESPONDER_FAILED':
        assert.ok(responder.sendBack, 'inbound events need a running responder');
        responder.sendBack(event as ResponderEvent);
        break;
      default:
        actor.send(event as ProvisioningEvent);
    }
    await settle();
    noteEntries();
  }
  return { actor, apply, responder, emitted, issuances, issuesStarted, links, attestations, passes, watches, persisting, settle };
}

describe('provisioning statechart, replayed on the real actor', () => {
  const inventory = machineInventory(provisioningMachine);
  const coverage = new CoverageRecorder('provisioning');
  let replayed = 0;

  for (const [variant, input] of Object.entries(variants)) {
    // getPathsFromEvents builds its start from the machine without the input: hand it the real one.
    const [fromState] = initialTransition(provisioningMachine, input);
    const graphEvents = variant === WAITING ? lockEventsFor : eventsFor;
    const options = { input, fromState, events: graphEvents as (s: Snapshot) => ProvisioningEvent[], serializeState };
    const shortest = getShortestPaths(provisioningMachine, options);
    const simple = getSimplePaths(provisioningMachine, { ...options, serializeState: (s) => JSON.stringify(s.value) });
    /** A sequence of model events as a path of the model's graph (serialized as above, so its context is exact). */
    const pathOf = (events: readonly ModelEvent[]) => pathFromEvents(provisioningMachine, events, options);
    // Stories may also use the events the graph search leaves out (the cap's corner cases).
    const storyOptions = { ...options, events: (s: Snapshot) => [...eventsFor(s), ...STORY_EVENTS] as ProvisioningEvent[] };
    const stories = (SCENARIOS[variant] ?? []).map((events) => pathFromEvents(provisioningMachine, events, storyOptions));
    // Simple paths tell states apart by value only, so their snapshots may carry another route's
    // context: walk their events again through the finer graph.
    const paths = [...shortest, ...simple.map((p) => pathOf(p.steps.slice(1).map((step) => step.event)))].concat(stories);

    it(`${variant}: ${shortest.length} shortest, ${simple.length} simple, ${stories.length} scenario paths`, async () => {
      for (const path of paths) {
        const sut = realDaemon(input, coverage);
        const trail: string[] = [];
        let prev: Snapshot | undefined;
        for (const step of path.steps) {
          // The graph's paths are typed by the machine's own events; the model's include actor outcomes and timers.
          const event = step.event as ModelEvent;
          const linksBefore = sut.links.started;
          const issuesBefore = sut.issuesStarted.n;
          if (event.type !== 'xstate.init') await sut.apply(event);
          trail.push(event.type);
          const where = `${variant}: ${trail.join(' > ')}`;
          const real = sut.actor.getSnapshot();
          assert.deepEqual(real.value, step.state.value, `state after ${where}`);
          // The lock: nothing that touches the world runs before the bus name is owned, and never without it.
          assert.deepEqual(WATCHES.filter((id) => id in real.children), real.context.ownsBusName ? WATCHES : [], `watches run iff the name is owned (${where})`);
          if (!real.context.ownsBusName) {
            assert.equal(sut.issuesStarted.n, 0, `the token is not touched before the name is owned (${where})`);
            assert.deepEqual(real.context.peerNames, [], `no peer before the name is owned (${where})`);
          }
          const props = selectDbusProperties(real);
          assert.equal(props.provisioned, step.state.context.provisioned, `provisioned after ${where}`);
          assert.equal(props.peerConnected, expectedPeerConnected(step.state), `peerConnected after ${where}`);
          assert.equal(sut.responder.running, real.matches({ responder: 'Listening' }) ? 1 : 0, `responder runs iff listening (${where})`);
          if (real.matches({ self: 'Provisioned' }) && !real.matches({ responder: 'Failed' })) {
            assert.ok(real.matches({ responder: 'Listening' }), `a provisioned BMC listens unless listening failed (${where})`);
          }
          // Every answered ProvisionPeer("self") was emitted, with the outcome of the issuance.
          const answered = (prev?.context.pendingSelfRequests.length ?? 0) > 0 && step.state.context.pendingSelfRequests.length === 0;
          if (answered) {
            const last = sut.emitted.at(-1);
            assert.ok(last, `a result must be emitted (${where})`);
            assert.equal(last.ok, event.type.startsWith('xstate.done'), `result outcome (${where})`);
            if (!last.ok) assert.equal(last.failure.code, real.context.clockPlausible ? 'PIN_INCORRECT' : 'CLOCK_IMPLAUSIBLE', where);
          }
          // No certificate is issued while the clock is implausible: ProvisionPeer("self") is refused at once.
          if (!real.context.clockPlausible) {
            assert.equal(sut.issuesStarted.n, issuesBefore, `no issuance starts with an implausible clock (${where})`);
            if (event.type === E.self.type) {
              const last = sut.emitted.at(-1);
              assert.ok(last && !last.ok && last.failure.code === 'CLOCK_IMPLAUSIBLE' && last.requestIds.includes(E.self.requestId), `refused: implausible clock (${where})`);
              assert.match(last.failure.message, /1970-01-01/);
            }
          }
          // A refused static peer dials again when trust or this BMC's credentials change.
          const dialling = step.state.context.peerNames.filter(
            (n) => step.state.context.staticPeers.some((p) => p.name === n) || n in step.state.context.discovered,
          );
          if ((event.type === E.trust.type || event.type === E.renewed.type) && prev && dialling.length) {
            const spawnedNow = dialling.length - (prev.context.peerNames.filter((n) => dialling.includes(n)).length);
            assert.equal(sut.links.started - linksBefore, dialling.length + spawnedNow, `refused peers dial again after ${event.type} (${where})`);
          }
          // An LLDP neighbour heard while provisioned is dialled at once: a new or moved one by a fresh
          // machine, one announced again where it was by its waiting (refused) link.
          if (event.type === 'LLDP_NEIGHBOR' && prev?.matches({ self: 'Provisioned' }) && !prev.context.staticPeers.some((p) => p.name === event.name)) {
            assert.equal(sut.links.started - linksBefore, 1, `${event.name} dialled at once (${where})`);
          }
          // No attestation completes here, so a peer is attested exactly when the trust store says so.
          const children = real.children as Record<string, { getSnapshot(): { context: { attested: boolean } } } | undefined>;
          for (const name of real.context.peerNames) {
            const attested = children[`peer:${name}`]?.getSnapshot().context.attested;
            assert.equal(attested, real.context.attestedNames.includes(name), `${name} attested iff an attested CA is bound to it (${where})`);
          }
          assert.deepEqual(real.context.peerNames, step.state.context.peerNames, `peer names after ${where}`);
          const untrustedDeparted = real.context.departed.filter((n) => !real.context.attestedNames.includes(n));
          assert.ok(untrustedDeparted.length <= input.maxDepartedPeers, `at most maxDepartedPeers departed neighbours without trust (${where})`);
          if (event.type === 'LLDP_GONE' && prev?.context.peerNames.includes((event as { name: string }).name)) {
            assert.ok(real.context.departed.includes((event as { name: string }).name), `the neighbour that just left is shown (${where})`);
          }
          for (const n of prev?.context.departed ?? []) {
            if (real.context.attestedNames.includes(n) && !real.context.peerNames.includes(n)) assert.ok(real.context.departed.includes(n), `departed ${n} with trust is kept (${where})`);
          }
          // Independent of the guard: a new name is taken only within the cap; known peers always.
          const onlyRequested = (c: Snapshot['context']) => c.peerNames.filter((n) => !(n in c.discovered) && !c.staticPeers.some((p) => p.name === n));
          assert.ok(onlyRequested(real.context).length <= input.maxRequestedPeers, `at most maxRequestedPeers peers through ProvisionPeer alone (${where})`);
          if (event.type === 'PROVISION_PEER' && prev?.context.provisioned) {
            const id = (event as { id: string }).id;
            const known = prev.context.peerNames.includes(id) || id in prev.context.discovered || prev.context.staticPeers.some((p) => p.name === id);
            const room = onlyRequested(prev.context).length < input.maxRequestedPeers;
            assert.equal(real.context.peerNames.includes(id), known || room, `ProvisionPeer(${id}) taken iff known or within the cap (${where})`);
          }
          if (event.type === E.forgotten.type) {
            assert.ok(!real.context.peerNames.includes('bmc-b') && !(`peer:bmc-b` in real.children), `the failed bmc-b is forgotten and its machine stopped (${where})`);
          }
          if (event.type === E.renewed.type && real.matches({ responder: 'Listening' })) {
            assert.ok(sut.responder.received.includes('CREDENTIALS_UPDATED'), `responder told of new credentials (${where})`);
          }
          prev = step.state;
        }
        sut.actor.stop();
        replayed++;
      }
    });
  }

  it('an LLDP announcement of a known peer (discovered or static) makes its refused link dial at once', async () => {
    const sut = realDaemon(variants['with static peers'] as ProvisioningInput, new CoverageRecorder('provisioning-announced'));
    for (const e of [E.self, E.issued, E.neighbour]) await sut.apply(e);
    const peer = (name: string) => (sut.actor.getSnapshot().children as Record<string, { getSnapshot(): { value: unknown } } | undefined>)[`peer:${name}`];
    for (const name of ['bmc-s', 'bmc-n']) assert.deepEqual(peer(name)?.getSnapshot().value, { NotConnected: 'Refused' }, `${name} refused, waiting for its retry`);
    for (const announced of [E.neighbour, { type: 'LLDP_NEIGHBOR', name: 'bmc-s', address: '192.0.2.7', port: 8090 } as const]) {
      const before = sut.links.started;
      await sut.apply(announced);
      assert.equal(sut.links.started - before, 1, `${announced.name} dialled again at once, no simulated time passed`);
      assert.deepEqual(peer(announced.name)?.getSnapshot().value, { NotConnected: 'Refused' }, 'and refused again');
    }
    assert.deepEqual(sut.actor.getSnapshot().context.discovered['bmc-s']?.address, '192.0.2.7');
    sut.actor.stop();
  });

  it('a trust change for one peer name wakes that peer’s refused link and the responder, no other link', async () => {
    const sut = realDaemon(variants['with static peers'] as ProvisioningInput, new CoverageRecorder('provisioning-targeted-trust'));
    for (const e of [E.self, E.issued, E.neighbour]) await sut.apply(e);
    const peer = (name: string) => (sut.actor.getSnapshot().children as Record<string, { getSnapshot(): { value: unknown } } | undefined>)[`peer:${name}`];
    for (const name of ['bmc-s', 'bmc-n']) assert.deepEqual(peer(name)?.getSnapshot().value, { NotConnected: 'Refused' }, `${name} refused, waiting for its retry`);
    let before = sut.links.started;
    const toResponder = sut.responder.received.length;
    await sut.apply({ type: 'TRUST_UPDATED', peers: ['bmc-n'] });
    assert.equal(sut.links.started - before, 1, 'only bmc-n dialled again');
    assert.deepEqual(sut.responder.received.slice(toResponder), ['TRUST_UPDATED'], 'the responder renews its context for new handshakes');
    before = sut.links.started;
    await sut.apply({ type: 'TRUST_UPDATED', peers: ['bmc-elsewhere'] });
    assert.equal(sut.links.started - before, 0, 'a CA for a name we have no link to wakes no link');
    before = sut.links.started;
    await sut.apply(E.trust);
    assert.equal(sut.links.started - before, 2, 'a change concerning every name (CA placed by hand) wakes both');
    const vouched = () =>
      ['bmc-s', 'bmc-n'].map((name) => (sut.actor.getSnapshot().children as Record<string, { getSnapshot(): { context: { anyNameTrusted?: boolean } } } | undefined>)[`peer:${name}`]?.getSnapshot().context.anyNameTrusted);
    assert.deepEqual(vouched(), [false, false]);
    await sut.apply({ type: 'ATTESTED_NAMES', names: [], anyName: true });
    assert.deepEqual(vouched(), [true, true], 'every peer machine learns that a CA placed by hand may vouch for it');
    sut.actor.stop();
  });

  it('a trust-store change records the names bound and wakes only the links it concerns; a CA placed by hand wakes all', async () => {
    const sut = realDaemon(variants['with static peers'] as ProvisioningInput, coverage);
    for (const e of [E.self, E.issued, E.neighbour]) await sut.apply(e);
    const peerContext = (name: string) =>
      (sut.actor.getSnapshot().children as Record<string, { getSnapshot(): { context: { attested: boolean; anyNameTrusted?: boolean } } } | undefined>)[`peer:${name}`]?.getSnapshot().context;
    assert.ok(sut.watches.trustStore, 'the trust store is watched from the start');
    let before = sut.links.started;
    const toResponder = sut.responder.received.length;
    sut.watches.trustStore({ type: 'TRUST_STORE_CHANGED', attestedNames: ['bmc-n'], anyNameTrusted: false, changedNames: ['bmc-n'], placedByHand: false });
    await sut.settle();
    assert.deepEqual(sut.actor.getSnapshot().context.attestedNames, ['bmc-n']);
    assert.equal(peerContext('bmc-n')?.attested, true, 'bmc-n is now attested');
    assert.equal(peerContext('bmc-s')?.attested, false);
    assert.equal(sut.links.started - before, 1, 'only bmc-n dialled again');
    assert.deepEqual(sut.responder.received.slice(toResponder), ['TRUST_UPDATED'], 'the responder renews its context');
    before = sut.links.started;
    sut.watches.trustStore({ type: 'TRUST_STORE_CHANGED', attestedNames: ['bmc-n'], anyNameTrusted: true, changedNames: [], placedByHand: true });
    await sut.settle();
    assert.equal(sut.links.started - before, 2, 'a CA placed by hand concerns every link');
    assert.deepEqual([peerContext('bmc-s')?.anyNameTrusted, peerContext('bmc-n')?.anyNameTrusted], [true, true]);
    sut.actor.stop();
  });

  it('a peer that attested us is attested back: the machine picks the peers at that address and tells the watch whom', async () => {
    const sut = realDaemon(variants['with static peers'] as ProvisioningInput, coverage);
    assert.ok(sut.watches.responder, 'attestationd\'s responder is watched from the start');
    // Not provisioned yet: bmc-s is at that address, but has no machine to attest with.
    sut.watches.responder({ type: 'RESPONDER_ATTESTED', address: '127.0.0.1' });
    await sut.settle();
    assert.deepEqual(sut.watches.toldResponder.at(-1), { type: 'ATTESTING_BACK', address: '127.0.0.1', names: ['bmc-s'] });
    assert.equal(sut.attestations.size, 0);
    for (const e of [E.self, E.issued, E.neighbour]) await sut.apply(e);
    sut.watches.responder({ type: 'RESPONDER_ATTESTED', address: '::ffff:192.0.2.9' });
    await sut.settle();
    assert.deepEqual(sut.watches.toldResponder.at(-1), { type: 'ATTESTING_BACK', address: '::ffff:192.0.2.9', names: ['bmc-n'] });
    assert.deepEqual([...sut.attestations.keys()], ['bmc-n'], 'the neighbour announcing that address is attested back, nobody else');
    sut.watches.responder({ type: 'RESPONDER_ATTESTED', address: '192.0.2.99' });
    await sut.settle();
    assert.deepEqual(sut.watches.toldResponder.at(-1)?.names, [], 'nobody known there');
    sut.actor.stop();
  });

  it('a leaf an inbound link presented goes to that peer’s machine as PEER_LEAF_CHANGED; an unknown name goes nowhere', async () => {
    const sut = realDaemon(variants['with static peers'] as ProvisioningInput, coverage);
    const toPeers: { to: string; event: unknown }[] = [];
    sut.actor.system.inspect((e) => {
      const to = (e.actorRef as { id?: string }).id ?? '';
      if (e.type === '@xstate.event' && to.startsWith('peer:') && e.event.type === 'PEER_LEAF_CHANGED') toPeers.push({ to, event: e.event });
    });
    for (const e of [E.self, E.issued, E.neighbour]) await sut.apply(e);
    assert.ok(sut.responder.sendBack, 'the responder runs once provisioned');
    sut.responder.sendBack({ type: 'INBOUND_PEER_LEAF', name: 'bmc-n', fingerprint: 'ab12' });
    await sut.settle();
    assert.deepEqual(toPeers, [{ to: 'peer:bmc-n', event: { type: 'PEER_LEAF_CHANGED', peerLeaf: 'ab12' } }], 'only bmc-n is told, with the leaf');
    sut.responder.sendBack({ type: 'INBOUND_PEER_LEAF', name: 'bmc-unknown', fingerprint: 'cd34' });
    await sut.settle();
    assert.equal(toPeers.length, 1, 'a name without a peer machine: nothing to re-attest');
    assert.deepEqual(Object.keys(sut.actor.getSnapshot().context.inbound), [], 'no inbound link is invented by it');
    sut.actor.stop();
  });

  it('a new inbound link from a known peer makes that peer’s waiting link dial at once; a repeated or unknown one wakes nobody', async () => {
    const sut = realDaemon(variants['with static peers'] as ProvisioningInput, new CoverageRecorder('provisioning-dialled-in'));
    for (const e of [E.self, E.issued, E.neighbour]) await sut.apply(e);
    const peer = (name: string) => (sut.actor.getSnapshot().children as Record<string, { getSnapshot(): { value: unknown } } | undefined>)[`peer:${name}`];
    for (const name of ['bmc-s', 'bmc-n']) assert.deepEqual(peer(name)?.getSnapshot().value, { NotConnected: 'Refused' }, `${name} refused, waiting for its retry`);
    assert.ok(sut.responder.sendBack, 'the responder runs once provisioned');
    let before = sut.links.started;
    sut.responder.sendBack({ type: 'INBOUND_UP', peer: 'bmc-n', connectionId: 'in-1' });
    await sut.settle();
    assert.equal(sut.links.started - before, 1, 'bmc-n dialled again at once, no simulated time passed');
    assert.deepEqual(peer('bmc-s')?.getSnapshot().value, { NotConnected: 'Refused' }, 'bmc-s is not woken');
    assert.deepEqual(sut.actor.getSnapshot().context.inbound, { 'bmc-n': ['in-1'] }, 'the inbound link is noted');
    before = sut.links.started;
    sut.responder.sendBack({ type: 'INBOUND_UP', peer: 'bmc-n', connectionId: 'in-1' });
    sut.responder.sendBack({ type: 'INBOUND_UP', peer: 'bmc-unknown', connectionId: 'in-2' });
    await sut.settle();
    assert.equal(sut.links.started - before, 0, 'the same connection again, or a name without a machine: no dial');
    sut.actor.stop();
  });

  it('provisioned = true is published only once it is on disk, or once its write failed', async () => {
    const held = realDaemon(base, coverage, 'held');
    for (const e of [E.self, E.issued]) await held.apply(e);
    assert.equal(held.persisting.started, 1, 'the flag is written on becoming provisioned');
    assert.equal(selectDbusProperties(held.actor.getSnapshot()).provisioned, true);
    assert.equal(selectPublishedProperties(held.actor.getSnapshot()).provisioned, false, 'not published while the write is under way');
    held.persisting.finish();
    await held.settle();
    assert.equal(selectPublishedProperties(held.actor.getSnapshot()).provisioned, true, 'published once on disk');
    held.actor.stop();

    const failing = realDaemon(base, coverage, 'fails');
    for (const e of [E.self, E.issued]) await failing.apply(e);
    assert.equal(selectPublishedProperties(failing.actor.getSnapshot()).provisioned, true, 'a failed write is published anyway');
    failing.actor.stop();

    const restored = realDaemon(variants.restored as ProvisioningInput, coverage, 'held');
    assert.equal(selectPublishedProperties(restored.actor.getSnapshot()).provisioned, true, 'read from the state file: on disk already');
    restored.actor.stop();
  });

  it('a revocation survives the LLDP neighbour leaving, moving and coming back: the same machine, refused until a ProvisionPeer passes', async () => {
    // bmc-n was attested in an earlier run (its CA bound): an LLDP neighbour dialled at start.
    const input: ProvisioningInput = { ...base, provisioned: true, attestedNames: ['bmc-n'], attestationHistory: { 'bmc-n': { verdict: 'passed', lastAttestedMs: 1 } } };
    const removed: string[] = [];
    const sut = realDaemon(input, coverage, 'ok', {
      revokePeerTrust: fromPromise<unknown, RevocationTarget>(async ({ input: target }) => removed.push(target.name)),
    });
    const peer = () =>
      (sut.actor.getSnapshot().children as Record<string, { getSnapshot(): SnapshotFrom<typeof peerMachine> } | undefined>)['peer:bmc-n'];
    const verdict = { code: 'ATTESTATION_FAILED', message: 'MEASUREMENT_MISMATCH: measurement 2 (provisioning.conf) is 5e0f…, not one of its 1 reference digest(s)' };
    const fail = async (error: unknown) => {
      const reject = sut.attestations.get('bmc-n');
      assert.ok(reject, 'bmc-n is being attested');
      sut.attestations.delete('bmc-n');
      reject(error);
      await sut.settle();
      await sut.settle();
    };
    for (const e of [E.restored, E.neighbour]) await sut.apply(e);
    assert.deepEqual(peer()?.getSnapshot().value, { NotConnected: 'Refused' });
    // ProvisionPeer, and attestationd's verdict goes against it: revoked, the root machine told.
    await sut.apply({ type: 'PROVISION_PEER', id: 'bmc-n' });
    await fail(verdict);
    assert.equal(peer()?.getSnapshot().value, 'Revoked');
    assert.deepEqual(removed, ['bmc-n'], 'its binding left the trust store');
    assert.deepEqual(sut.actor.getSnapshot().context.revoked, ['bmc-n']);
    await sut.apply(E.noAttestedNames);
    const revokedMachine = peer();
    // Its LLDP entry expires (a reboot), it is announced again, then at another address: the same machine, still refused.
    const linksBefore = sut.links.started;
    await sut.apply(E.gone);
    assert.equal(peer(), revokedMachine, 'the machine of a revoked peer is kept when its neighbour leaves');
    assert.ok(!sut.actor.getSnapshot().context.departed.includes('bmc-n'), 'shown by its machine, not as departed');
    for (const e of [E.neighbour, E.moved]) await sut.apply(e);
    assert.equal(peer(), revokedMachine, 'and when it is back or moves');
    assert.equal(peer()?.getSnapshot().value, 'Revoked');
    assert.equal(peer()?.getSnapshot().context.address, '192.0.2.10', 'told its new address');
    assert.equal(sut.links.started, linksBefore, 'never dialled');
    // It attests us: not attested back.
    sut.watches.responder?.({ type: 'RESPONDER_ATTESTED', address: '192.0.2.10' });
    await sut.settle();
    assert.equal(peer()?.getSnapshot().value, 'Revoked', 'not attested back when it attests us');
    assert.equal(sut.attestations.has('bmc-n'), false);
    // Shown and persisted as revoked all along.
    const view = () => selectPeerViews(sut.actor.getSnapshot()).find((v) => v.name === 'bmc-n');
    assert.equal(view()?.lastVerdict, 'revoked');
    assert.match(view()?.lastFailure ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2/);
    // What the persistAttestations actor writes to state.json.
    const persisted = () => {
      const snapshot = sut.actor.getSnapshot();
      return attestationRecords(snapshot.context.attestationHistory ?? {}, selectPeerViews(snapshot))['bmc-n'];
    };
    assert.equal(persisted()?.verdict, 'revoked');
    // A ProvisionPeer that fails again leaves it revoked; one that passes brings it back.
    await sut.apply({ type: 'PROVISION_PEER', id: 'bmc-n' });
    await fail(verdict);
    assert.equal(peer()?.getSnapshot().value, 'Revoked');
    assert.deepEqual(sut.actor.getSnapshot().context.revoked, ['bmc-n']);
    await sut.apply({ type: 'PROVISION_PEER', id: 'bmc-n' });
    sut.passes.get('bmc-n')?.({ atMs: 2 });
    await sut.settle();
    await sut.settle();
    assert.deepEqual(sut.actor.getSnapshot().context.revoked, [], 'no longer refused');
    assert.deepEqual(peer()?.getSnapshot().value, { NotConnected: 'Refused' }, 'dialled again (refused here, as every link of this model)');
    assert.equal(sut.links.started, linksBefore + 1);
    // Now an ordinary neighbour again: its machine stops when it leaves, and it stays persisted as passed.
    await sut.apply(E.gone);
    assert.equal(peer(), undefined);
    assert.deepEqual(persisted(), { lastAttestedMs: 2, verdict: 'passed' });
    sut.actor.stop();

    // Revoked in an earlier run (the state file) and no CA bound since: refused from the start, kept when it leaves.
    const before = realDaemon({ ...base, provisioned: true, attestationHistory: { 'bmc-n': { verdict: 'revoked' } } }, coverage);
    assert.deepEqual(before.actor.getSnapshot().context.revoked, ['bmc-n']);
    for (const e of [E.restored, E.neighbour, E.gone, E.neighbour]) await before.apply(e);
    assert.equal(
      (before.actor.getSnapshot().children as Record<string, { getSnapshot(): { value: unknown } } | undefined>)['peer:bmc-n']?.getSnapshot().value,
      'Revoked',
    );
    assert.equal(before.links.started, 0);
    before.actor.stop();
  });

  it('every state and every transition of the daemon machine was taken by the real actor', () => {
    assert.deepEqual(missing(inventory.states, coverage.states), [], 'states never entered');
    assert.deepEqual(missing(inventory.transitions, coverage.transitions), [], 'transitions never taken');
  });

  after(() => {
    process.stdout.write(
      `# provisioning model: ${replayed} paths, ${coverage.states.size}/${inventory.states.size} states, ${coverage.transitions.size}/${inventory.transitions.size} transitions\n`,
    );
  }, { timeout: 60_000 });
});

describe('renewal timing', () => {
  it('renews at two thirds of the leaf lifetime', () => {
    assert.equal(renewalDelayMs(86_400_000), 57_600_000);
  });
  it('never asks for a timer longer than JavaScript can hold (it would fire at once, in a loop)', () => {
    const year = 365 * 86_400_000;
    assert.equal(renewalDelayMs(year), MAX_TIMER_MS);
    assert.ok(MAX_TIMER_MS <= 2 ** 31 - 1);
  });
});
