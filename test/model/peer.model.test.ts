import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createActor, fromCallback, fromPromise, initialTransition, SimulatedClock, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { backoffDelay } from '../../machines/backoff.ts';
import { selectPeerStatus, type PeerStatus } from '../../machines/dbus-properties.ts';
import type { AttestationTarget, CredentialsEvent, LinkEvent, LinkTarget } from '../../machines/events.ts';
import { peerMachine, type PeerEvent, type PeerInput } from '../../machines/peer.machine.ts';
import { pathFromEvents } from './path-from-events.ts';
import { CoverageRecorder, machineInventory, missing } from './transition-coverage.ts';

type PeerSnapshot = SnapshotFrom<typeof peerMachine>;
/** Abstract events of the model: real events plus the actor outcomes and timers they stand for. */
type ModelEvent = PeerEvent | { type: `xstate.${string}`; output?: unknown; error?: unknown };

const retry = { baseMs: 100, capMs: 800, fastRetries: 2 };
const base = { name: 'bmc-b', retry, attestationTimeoutMs: 5000 };
/** Three kinds of peer: attested and dialable; trusted by the operator; attested but without an address. */
const variants: Record<string, PeerInput> = {
  attested: { ...base, address: '127.0.0.1', port: 8090, trustedOutOfBand: false },
  static: { ...base, address: '127.0.0.1', port: 8090, trustedOutOfBand: true },
  undialable: { ...base, trustedOutOfBand: false },
};

const EVENTS: ModelEvent[] = [
  { type: 'ATTEST' },
  { type: 'ATTEST_BACK' },
  { type: 'xstate.done.actor.0.peer.Attesting', output: true },
  { type: 'xstate.error.actor.0.peer.Attesting', error: new Error('evidence did not match the reference values') },
  { type: 'xstate.after.attestationTimeout.peer.Attesting' },
  { type: 'LINK_UP' },
  { type: 'LINK_DOWN', reason: 'keep-alive timeout' },
  { type: 'LINK_FAILED', reason: 'ECONNREFUSED' },
  { type: 'LINK_REJECTED', reason: 'certificate names bmc-x, not bmc-b' },
  { type: 'xstate.after.retryBackoff.peer.NotConnected.Backoff' },
  { type: 'TRUST_UPDATED' },
  { type: 'CREDENTIALS_UPDATED' },
  { type: 'ATTESTATION_BOUND', bound: false },
  { type: 'ATTESTATION_BOUND', bound: true },
];

/** The oracle: what peerConnected must say in each state, written down independently of the selector. */
const EXPECTED_STATUS: Record<string, PeerStatus> = {
  '"NotDetermined"': 'NotDetermined',
  '"Attesting"': 'InProgress',
  '"Provisioned"': 'InProgress',
  '{"Link":"InProgress"}': 'InProgress',
  '{"Link":"Connected"}': 'Connected',
  '{"NotConnected":"Backoff"}': 'NotConnected',
  '{"NotConnected":"Refused"}': 'NotConnected',
};

/** Stories the graph search does not produce on its own: repeated attestation, and a long outage. */
const ev = (type: string): ModelEvent => {
  const found = EVENTS.find((e) => e.type === type);
  if (!found) throw new Error(`no model event ${type}`);
  return found;
};
const ATTESTED = ev('xstate.done.actor.0.peer.Attesting');
const BACKOFF = ev('xstate.after.retryBackoff.peer.NotConnected.Backoff');
const FAILED = ev('LINK_FAILED');
const SCENARIOS: Record<string, ModelEvent[][]> = {
  attested: [
    [ev('ATTEST'), ATTESTED, ev('LINK_UP'), ev('LINK_DOWN'), BACKOFF, FAILED, BACKOFF, FAILED, BACKOFF, FAILED, BACKOFF, ev('LINK_UP')],
    [ev('ATTEST'), ATTESTED, ev('LINK_REJECTED'), ev('TRUST_UPDATED'), ev('LINK_UP')],
    [ev('ATTEST'), ev('xstate.after.attestationTimeout.peer.Attesting'), ev('ATTEST'), ATTESTED, ev('LINK_REJECTED'), ev('CREDENTIALS_UPDATED'), ev('LINK_UP')],
    // Trust changed while a dial was in its handshake: that dial starts over with the new trust.
    [ev('ATTEST'), ATTESTED, ev('TRUST_UPDATED'), ev('LINK_UP')],
  ],
  static: [
    [ev('CREDENTIALS_UPDATED'), ev('LINK_REJECTED'), ev('CREDENTIALS_UPDATED'), ev('LINK_UP')],
    [ev('LINK_FAILED'), ev('ATTEST'), ATTESTED, ev('LINK_UP')],
    // The peer attested us while our dial was failing: we attest it back once, and only once.
    [ev('ATTEST_BACK'), ATTESTED, ev('LINK_REJECTED'), ev('ATTEST_BACK'), ev('TRUST_UPDATED'), ev('LINK_UP'), ev('ATTEST_BACK')],
  ],
  undialable: [[ev('ATTEST'), ATTESTED, ev('ATTEST'), ev('xstate.error.actor.0.peer.Attesting')]],
};

/**
 * The model's notion of "same state": value, attempts (all beyond the fast retries alike) and whether
 * a failure is recorded. What it leaves out never changes where an event leads, so the one snapshot
 * xstate/graph keeps per serialized state is exact for whichever route reached it.
 */
const serializeState = (s: PeerSnapshot) =>
  `${JSON.stringify(s.value)}|${Math.min(s.context.attempt, retry.fastRetries + 1)}|${s.context.lastError ? 1 : 0}|${s.context.attested ? 1 : 0}`;

/** A real peer actor whose effects (attestation, link) are driven by the test, on a simulated clock. */
function realPeer(input: PeerInput, coverage: CoverageRecorder) {
  const clock = new SimulatedClock();
  let attestation: { resolve: (v: unknown) => void; reject: (e: unknown) => void } | undefined;
  let link: ((e: LinkEvent) => void) | undefined;
  let linksStarted = 0;
  let linksStopped = 0;
  const machine = peerMachine.provide({
    actors: {
      attestPeer: fromPromise<unknown, AttestationTarget>(
        () => new Promise((resolve, reject) => (attestation = { resolve, reject })),
      ),
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
  actor.start();
  coverage.noteSnapshot(actor.getSnapshot());
  const settle = () => new Promise((r) => setImmediate(r));

  async function apply(event: ModelEvent): Promise<void> {
    const before = actor.getSnapshot();
    switch (event.type) {
      case 'xstate.done.actor.0.peer.Attesting':
        assert.ok(attestation, 'an attestation must be running');
        attestation.resolve(true);
        break;
      case 'xstate.error.actor.0.peer.Attesting':
        assert.ok(attestation, 'an attestation must be running');
        attestation.reject((event as { error: unknown }).error);
        break;
      case 'xstate.after.attestationTimeout.peer.Attesting':
      case 'xstate.after.retryBackoff.peer.NotConnected.Backoff': {
        const ms = event.type.includes('attestation')
          ? input.attestationTimeoutMs
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
  return { actor, apply, counts: () => ({ linksStarted, linksStopped }) };
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
        const sut = realPeer(input, coverage);
        const trail: string[] = [];
        for (const step of path.steps) {
          // The graph's paths are typed by the machine's own events; the model's include actor outcomes and timers.
          const event = step.event as ModelEvent;
          if (event.type !== 'xstate.init') await sut.apply(event);
          trail.push(event.type);
          const real = sut.actor.getSnapshot();
          const where = `${variant}: ${trail.join(' > ')}`;
          assert.deepEqual(real.value, step.state.value, `state after ${where}`);
          const key = JSON.stringify(real.value);
          assert.equal(selectPeerStatus(real), EXPECTED_STATUS[key], `peerConnected after ${where}`);
          const { linksStarted, linksStopped } = sut.counts();
          assert.equal(linksStarted - linksStopped, real.matches('Link') ? 1 : 0, `one link exactly while linking (${where})`);
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
      assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'Connected' });
      await sut.apply({ type });
      assert.deepEqual(sut.counts(), { linksStarted: 2, linksStopped: 1 }, `${type}: an established link is kept`);
      sut.actor.stop();
    }
  });

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
