import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createActor, fromCallback, fromPromise, initialTransition, SimulatedClock, transition, type SnapshotFrom } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { selectDbusProperties, PEER_CONNECTION_STATUS_PREFIX, type PeerStatus } from '../../machines/dbus-properties.ts';
import type { CredentialsEvent, IssueRequest, IssueSummary, LinkEvent, LinkTarget, ResponderEvent } from '../../machines/events.ts';
import { peerMachine } from '../../machines/peer.machine.ts';
import {
  provisioningMachine,
  renewalDelayMs,
  type ProvisioningEvent,
  type ProvisioningInput,
  type SelfProvisionResult,
} from '../../machines/provisioning.machine.ts';
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
  trust: { type: 'TRUST_UPDATED' },
} satisfies Record<string, ModelEvent>;

/** Inbound and responder events only come from the responder, which runs while provisioned. */
const eventsFor = (s: Snapshot): ModelEvent[] => {
  const common: ModelEvent[] = [E.self, E.issued, E.issueFailed, E.restored, E.restoreFailed, E.renewed, E.renewFailed,
    E.renewalDue, E.retryRestore, E.retryRenewal, E.peer, E.trust];
  return s.matches({ self: 'Provisioned' }) ? [...common, E.inboundUp, E.inboundDown, E.responderFailed] : common;
};

const serializeState = (s: Snapshot) =>
  JSON.stringify([s.value, s.context.provisioned, s.context.pendingSelfRequests.length > 0, s.context.peerNames,
    Object.keys(s.context.inbound), Boolean(s.context.selfError), Boolean(s.context.responderError)]);

/** Stories beyond the graph search: requests queued during an issuance, repeated attestation. */
const SCENARIOS: Record<string, ModelEvent[][]> = {
  fresh: [
    [E.trust, E.self, E.issueFailed, E.self, E.issued, E.responderFailed, E.trust],
    [E.self, E.self, E.issued, E.peer, E.peer, E.inboundUp, E.inboundDown, E.renewalDue, E.self, E.renewed],
    [E.self, E.issued, E.renewalDue, E.renewFailed, E.retryRenewal, E.renewed, E.self, E.renewFailed, E.self, E.renewed],
  ],
  restored: [
    [E.self, E.restoreFailed, E.retryRestore, E.self, E.restored, E.trust],
    [E.restoreFailed, E.self, E.issueFailed, E.self, E.issued],
  ],
  'with static peers': [[E.self, E.issued, E.trust, E.peer]],
};

function storyPath(input: ProvisioningInput, events: ModelEvent[]) {
  let [state] = initialTransition(provisioningMachine, input);
  const steps: Array<{ event: ModelEvent; state: Snapshot }> = [{ event: { type: 'xstate.init' }, state }];
  for (const event of events) {
    [state] = transition(provisioningMachine, state, event as ProvisioningEvent);
    steps.push({ event, state });
  }
  return { state, steps };
}

/** Independent oracle for peerConnected: inbound link → Connected; any peer (attesting / dialling) → InProgress. */
function expectedPeerConnected(model: Snapshot): string {
  const status: PeerStatus = Object.keys(model.context.inbound).length
    ? 'Connected'
    : model.context.peerNames.length
      ? 'InProgress'
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
          tlsClient: fromCallback<CredentialsEvent, LinkTarget>(() => undefined),
        },
      }),
    },
  });
  const actor = createActor(machine, { input, clock, inspect: coverage.inspect });
  actor.on('selfProvisionResult', (r) => emitted.push(r));
  actor.start();
  coverage.noteSnapshot(actor.getSnapshot());
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
      case E.retryRenewal.type: {
        const ms = event.type === E.renewalDue.type ? renewalDelayMs(summary.leafNotBefore, summary.leafNotAfter) : input.issueRetryMs;
        clock.increment(ms - 1);
        await settle();
        assert.deepEqual(actor.getSnapshot().value, before.value, `${event.type} fired before ${ms} ms`);
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
  }
  return { actor, apply, responder, emitted, issuances };
}

describe('provisioning statechart, replayed on the real actor', () => {
  const inventory = machineInventory(provisioningMachine);
  const coverage = new CoverageRecorder('provisioning');
  let replayed = 0;

  for (const [variant, input] of Object.entries(variants)) {
    const options = { input, events: eventsFor as (s: Snapshot) => ProvisioningEvent[], serializeState };
    const shortest = getShortestPaths(provisioningMachine, options);
    const simple = getSimplePaths(provisioningMachine, { ...options, serializeState: (s) => JSON.stringify(s.value) });
    const stories = (SCENARIOS[variant] ?? []).map((events) => storyPath(input, events));
    // The graph keeps one representative snapshot per serialized state; re-derive each path's
    // snapshots from its own events so that the model's context is exact at every step.
    const paths = [...shortest, ...simple]
      .map((p) => storyPath(input, p.steps.slice(1).map((step) => step.event as ModelEvent)))
      .concat(stories);

    it(`${variant}: ${shortest.length} shortest, ${simple.length} simple, ${stories.length} scenario paths`, async () => {
      for (const path of paths) {
        const sut = realDaemon(input, coverage);
        const trail: string[] = [];
        let prev: Snapshot | undefined;
        for (const step of path.steps) {
          if (step.event.type !== 'xstate.init') await sut.apply(step.event as ModelEvent);
          trail.push(step.event.type);
          const where = `${variant}: ${trail.join(' > ')}`;
          const real = sut.actor.getSnapshot();
          assert.deepEqual(real.value, step.state.value, `state after ${where}`);
          const props = selectDbusProperties(real);
          assert.equal(props.provisioned, step.state.context.provisioned, `provisioned after ${where}`);
          assert.equal(props.peerConnected, expectedPeerConnected(step.state), `peerConnected after ${where}`);
          assert.equal(sut.responder.running, real.matches({ self: 'Provisioned' }) ? 1 : 0, `responder runs iff provisioned (${where})`);
          // Every answered ProvisionPeer("self") was emitted, with the outcome of the issuance.
          const answered = (prev?.context.pendingSelfRequests.length ?? 0) > 0 && step.state.context.pendingSelfRequests.length === 0;
          if (answered) {
            const last = sut.emitted.at(-1);
            assert.ok(last, `a result must be emitted (${where})`);
            assert.equal(last.ok, step.event.type.startsWith('xstate.done'), `result outcome (${where})`);
            if (!last.ok) assert.equal(last.failure.code, 'PIN_INCORRECT');
          }
          if (step.event.type === E.renewed.type) {
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
  });
});
