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
const base = { name: 'bmc-b', retry, attestationTimeoutMs: 5000, forgetFailedMs: 60_000 };
/** Three kinds of peer: attested and dialable; trusted by the operator; attested but without an address (a ProvisionPeer of a name nothing else knows). */
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
  { type: 'xstate.after.retryBackoff.peer.NotConnected.Refused' },
  { type: 'xstate.after.forgetFailed.peer.NotDetermined' },
  { type: 'PEER_ANNOUNCED' },
  { type: 'TRUST_UPDATED' },
  { type: 'CREDENTIALS_UPDATED' },
  { type: 'ATTESTATION_BOUND', bound: false },
  { type: 'ATTESTATION_BOUND', bound: true },
  // A CA placed by hand came (or went): it vouches for any name, this peer's too.
  { type: 'ATTESTATION_BOUND', bound: false, anyName: true },
  { type: 'ATTESTATION_BOUND', bound: false, anyName: false },
];

/** The oracle: what peerConnected must say in each state, written down independently of the selector. */
const EXPECTED_STATUS: Record<string, PeerStatus> = {
  '"NotDetermined"': 'NotDetermined',
  '"Forgotten"': 'NotDetermined',
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
const REFUSED_RETRY = ev('xstate.after.retryBackoff.peer.NotConnected.Refused');
const FAILED = ev('LINK_FAILED');
const REJECTED = ev('LINK_REJECTED');
const FORGET = ev('xstate.after.forgetFailed.peer.NotDetermined');
const ATTEST_FAILED = ev('xstate.error.actor.0.peer.Attesting');
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
  `${JSON.stringify(s.value)}|${Math.min(s.context.attempt, retry.fastRetries + 1)}|${s.context.lastError ? 1 : 0}|${s.context.attested ? 1 : 0}|${s.context.anyNameTrusted ? 1 : 0}`;

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
      case 'xstate.after.forgetFailed.peer.NotDetermined':
      case 'xstate.after.retryBackoff.peer.NotConnected.Backoff':
      case 'xstate.after.retryBackoff.peer.NotConnected.Refused': {
        const ms = event.type.includes('attestation')
          ? input.attestationTimeoutMs
          : event.type.includes('forgetFailed')
            ? input.forgetFailedMs
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
      assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'Connected' });
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
    assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'Connected' });
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

  it('an LLDP announcement dials a waiting link at once, and leaves a dial in flight or a link that is up alone', async () => {
    for (const failure of [REJECTED, FAILED]) {
      const sut = realPeer(variants.static as PeerInput, new CoverageRecorder('peer-announced'));
      await sut.apply(ev('PEER_ANNOUNCED'));
      assert.deepEqual(sut.counts(), { linksStarted: 1, linksStopped: 0 }, 'a dial in flight is not restarted');
      await sut.apply(failure);
      await sut.apply(ev('PEER_ANNOUNCED'));
      assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'InProgress' }, `after ${failure.type}: dialled without waiting for the backoff`);
      assert.deepEqual(sut.counts(), { linksStarted: 2, linksStopped: 1 });
      await sut.apply(ev('LINK_UP'));
      await sut.apply(ev('PEER_ANNOUNCED'));
      assert.deepEqual(sut.actor.getSnapshot().value, { Link: 'Connected' });
      assert.deepEqual(sut.counts(), { linksStarted: 2, linksStopped: 1 }, 'an established link is kept');
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
    ['one trusted by the operator', { ...undialable, trustedOutOfBand: true }, [ev('ATTEST'), ATTEST_FAILED], 'Provisioned'],
  ];
  for (const [what, input, events, state] of kept) {
    it(`never ${what}`, async () => {
      const sut = realPeer(input, new CoverageRecorder('peer-forget'));
      for (const e of events) await sut.apply(e);
      await forget(sut);
      assert.equal(sut.actor.getSnapshot().value, state);
      assert.equal(sut.actor.getSnapshot().status, 'active');
      sut.actor.stop();
    });
  }
});
