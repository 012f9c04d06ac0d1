import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createActor, fromCallback, fromPromise, initialTransition, SimulatedClock, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { selectDbusProperties, PEER_CONNECTION_STATUS_PREFIX, type PeerStatus } from '../../machines/dbus-properties.ts';
import type { CredentialsEvent, IssueRequest, IssueSummary, LinkTarget, ResponderEvent } from '../../machines/events.ts';
import { peerMachine } from '../../machines/peer.machine.ts';
import {
  MAX_TIMER_MS,
  provisioningMachine,
  renewalDelayMs,
  type ProvisioningEvent,
  type ProvisioningInput,
  type SelfProvisionResult,
} from '../../machines/provisioning.machine.ts';
import { pathFromEvents } from './path-from-events.ts';
import { CoverageRecorder, machineInventory, missing } from './transition-coverage.ts';

type Snapshot = SnapshotFrom<typeof provisioningMachine>;
type ModelEvent = ProvisioningEvent | { type: `xstate.${string}`; output?: unknown; error?: unknown };

const LIFETIME_MS = 90_000;
const summary: IssueSummary = { caFingerprint: 'ab12', leafNotBefore: 1_000_000, leafNotAfter: 1_000_000 + LIFETIME_MS, generation: 1 };
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
};
const variants: Record<string, ProvisioningInput> = {
  fresh: base,
  restored: { ...base, provisioned: true },
  'with static peers': { ...base, staticPeers: [{ name: 'bmc-s', address: '127.0.0.1', port: 8090 }] },
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
} satisfies Record<string, ModelEvent>;

/** Each delayed event: the state whose timer it is, and its delay. */
const TIMERS: Record<string, { state: string; ms: (input: ProvisioningInput) => number }> = {
  [E.renewalDue.type]: { state: 'provisioning.self.Provisioned.Ready', ms: () => renewalDelayMs(summary.leafNotBefore, summary.leafNotAfter) },
  [E.retryRestore.type]: { state: 'provisioning.self.Unavailable', ms: (i) => i.issueRetryMs },
  [E.retryRenewal.type]: { state: 'provisioning.self.Provisioned.RenewalFailed', ms: (i) => i.issueRetryMs },
  [E.retryListen.type]: { state: 'provisioning.responder.Failed', ms: (i) => i.listenRetryMs },
};

/** Inbound and responder events only come from the responder, which runs while the responder region listens. */
const eventsFor = (s: Snapshot): ModelEvent[] => {
  const selfTimers = [E.renewalDue, E.retryRestore, E.retryRenewal];
  const common: ModelEvent[] = [E.self, E.issued, E.issueFailed, E.restored, E.restoreFailed, E.renewed, E.renewFailed,
    ...(s.matches({ responder: 'Failed' }) ? [] : selfTimers), E.retryListen, E.peer, E.trust,
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
    Object.keys(s.context.inbound), Boolean(s.context.selfError), Boolean(s.context.responderError), s.context.discovered, s.context.departed, s.context.attestedNames]);

/** Stories beyond the graph search: requests queued during an issuance, repeated attestation. */
const SCENARIOS: Record<string, ModelEvent[][]> = {
  fresh: [
    [E.trust, E.self, E.issueFailed, E.self, E.issued, E.responderFailed, E.trust],
    [E.self, E.issued, E.inboundUp, E.responderFailed, E.retryListen, E.inboundUp, E.renewalDue, E.renewed, E.inboundDown, E.trust],
    [E.self, E.self, E.issued, E.peer, E.peer, E.inboundUp, E.inboundDown, E.renewalDue, E.self, E.renewed],
    [E.self, E.issued, E.renewalDue, E.renewFailed, E.retryRenewal, E.renewed, E.self, E.renewFailed, E.self, E.renewed],
  ],
  restored: [
    [E.self, E.restoreFailed, E.retryRestore, E.self, E.restored, E.trust],
    [E.restoreFailed, E.self, E.issueFailed, E.self, E.issued],
  ],
  'with static peers': [
    [E.self, E.issued, E.trust, E.peer],
    // Attested CAs in the trust store: peers spawned later start attested, running ones follow changes.
    [E.attestedNames, E.self, E.issued, E.peer, E.neighbour, E.noAttestedNames, E.trust, E.attestedNames, E.gone, E.neighbour],
    // A neighbour that moves is dialled at its new address; one that goes stops being dialled.
    [E.neighbour, E.self, E.issued, E.moved, E.trust, E.gone, E.neighbour, E.trust],
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

function realDaemon(input: ProvisioningInput, coverage: CoverageRecorder) {
  const clock = new SimulatedClock();
  const issuances: Deferred[] = [];
  const responder = { running: 0, received: [] as string[], sendBack: undefined as ((e: ResponderEvent) => void) | undefined };
  const emitted: SelfProvisionResult[] = [];
  const links = { started: 0 };
  const machine = provisioningMachine.provide({
    actors: {
      issueCertificates: fromPromise<IssueSummary, IssueRequest>(
        ({ input: req }) => new Promise((resolve, reject) => issuances.push({ reason: req.reason, resolve, reject })),
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
          attestPeer: fromPromise(() => new Promise(() => undefined)),
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
  return { actor, apply, responder, emitted, issuances, links };
}

describe('provisioning statechart, replayed on the real actor', () => {
  const inventory = machineInventory(provisioningMachine);
  const coverage = new CoverageRecorder('provisioning');
  let replayed = 0;

  for (const [variant, input] of Object.entries(variants)) {
    // getPathsFromEvents builds its start from the machine without the input: hand it the real one.
    const [fromState] = initialTransition(provisioningMachine, input);
    const options = { input, fromState, events: eventsFor as (s: Snapshot) => ProvisioningEvent[], serializeState };
    const shortest = getShortestPaths(provisioningMachine, options);
    const simple = getSimplePaths(provisioningMachine, { ...options, serializeState: (s) => JSON.stringify(s.value) });
    /** A sequence of model events as a path of the model's graph (serialized as above, so its context is exact). */
    const pathOf = (events: readonly ModelEvent[]) => pathFromEvents(provisioningMachine, events, options);
    const stories = (SCENARIOS[variant] ?? []).map(pathOf);
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
          if (event.type !== 'xstate.init') await sut.apply(event);
          trail.push(event.type);
          const where = `${variant}: ${trail.join(' > ')}`;
          const real = sut.actor.getSnapshot();
          assert.deepEqual(real.value, step.state.value, `state after ${where}`);
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
            if (!last.ok) assert.equal(last.failure.code, 'PIN_INCORRECT');
          }
          // A refused static peer dials again when trust or this BMC's credentials change.
          const dialling = step.state.context.peerNames.filter(
            (n) => step.state.context.staticPeers.some((p) => p.name === n) || n in step.state.context.discovered,
          );
          if ((event.type === E.trust.type || event.type === E.renewed.type) && prev && dialling.length) {
            const spawnedNow = dialling.length - (prev.context.peerNames.filter((n) => dialling.includes(n)).length);
            assert.equal(sut.links.started - linksBefore, dialling.length + spawnedNow, `refused peers dial again after ${event.type} (${where})`);
          }
          // No attestation completes here, so a peer is attested exactly when the trust store says so.
          const children = real.children as Record<string, { getSnapshot(): { context: { attested: boolean } } } | undefined>;
          for (const name of real.context.peerNames) {
            const attested = children[`peer:${name}`]?.getSnapshot().context.attested;
            assert.equal(attested, real.context.attestedNames.includes(name), `${name} attested iff an attested CA is bound to it (${where})`);
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
    assert.equal(renewalDelayMs(0, 86_400_000), 57_600_000);
  });
  it('never asks for a timer longer than JavaScript can hold (it would fire at once, in a loop)', () => {
    const year = 365 * 86_400_000;
    assert.equal(renewalDelayMs(0, year), MAX_TIMER_MS);
    assert.ok(MAX_TIMER_MS <= 2 ** 31 - 1);
  });
});
