import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor } from 'xstate';
import { peerMachine } from '../../machines/peer.machine.ts';
import { provisioningMachine } from '../../machines/provisioning.machine.ts';
import { activeStateIds, formatStateValue } from '../../src/inspect/active-states.ts';
import { allStates, stateDetails, statechartGraph } from '../../src/inspect/statechart-graph.ts';
import { daemonInput } from '../harness/daemon-input.ts';
import { quietEffects } from '../harness/quiet-effects.ts';

describe('statechartGraph', () => {
  const root = statechartGraph(provisioningMachine);
  const peer = statechartGraph(peerMachine);
  const edge = (g: typeof root, source: string, label: string) =>
    g.transitions.filter((t) => t.source === source && t.label === label).map((t) => t.target);

  it('keeps the nesting and the full state ids of the machine', () => {
    assert.equal(root.root.id, 'provisioning');
    assert.equal(root.root.kind, 'parallel');
    const ids = allStates(root).map((s) => s.id);
    assert.ok(ids.includes('provisioning.self.Provisioned.Ready'));
    assert.ok(ids.includes('provisioning.self.NotProvisioned'));
    const link = allStates(peer).find((s) => s.id === 'peer.Link');
    assert.deepEqual(
      link?.children.map((c) => [c.key, c.initial]),
      [
        ['InProgress', true],
        ['Connected', false],
      ],
    );
    assert.deepEqual(link?.invokes, ['tlsClient']);
  });

  it("draws the actors the root spawns once the name is owned: exactly the children the real machine starts beside the invoked ones", () => {
    const actor = createActor(provisioningMachine.provide({ actors: quietEffects }), { input: daemonInput({ ownsBusName: true }) }).start();
    try {
      const children = Object.keys(actor.getSnapshot().children);
      const invoked = root.root.invokes;
      assert.deepEqual(
        children.filter((id) => !invoked.includes(id)),
        [...root.root.spawns],
        'the picture names what runs',
      );
      assert.ok(stateDetails(root.root).includes('spawn trustStoreWatch'));
    } finally {
      actor.stop();
    }
  });

  it('labels transitions by event, timer, completion and guard', () => {
    assert.deepEqual(edge(root, 'provisioning.self.NotProvisioned', 'PROVISION_SELF'), ['provisioning.self.Issuing']);
    assert.deepEqual(edge(root, 'provisioning.self.Boot', 'always [provisioned]'), ['provisioning.self.Restoring']);
    assert.deepEqual(edge(root, 'provisioning.self.Unavailable', 'after issueRetry'), ['provisioning.self.Restoring']);
    assert.deepEqual(edge(root, 'provisioning.self.Issuing', 'issueCertificates done'), ['provisioning.self.Provisioned']);
    assert.deepEqual(edge(root, 'provisioning.self.Issuing', 'issueCertificates error [provisioned]'), ['provisioning.self.Unavailable']);
    assert.deepEqual(edge(peer, 'peer.Link', 'LINK_REJECTED'), ['peer.NotConnected.Refused']);
    assert.deepEqual(edge(peer, 'peer.NotConnected.Backoff', 'after retryBackoff'), ['peer.Link']);
  });

  it('lists targetless transitions inside their state instead of drawing arrows', () => {
    assert.ok(root.root.internal.includes('PROVISION_PEER [provisionedWithRoom] / startAttestation'));
    assert.ok(root.root.internal.includes('* done [peerEnded] / dropEndedPeer'), 'a forgotten peer machine is dropped');
    assert.equal(root.transitions.filter((t) => t.source === 'provisioning').length, 0);
  });

  it('gives every transition a unique, stable id', () => {
    const ids = [...root.transitions, ...peer.transitions].map((t) => t.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(statechartGraph(provisioningMachine), root);
  });
});

describe('activeStateIds', () => {
  const root = statechartGraph(provisioningMachine).root;

  it('lists the root, the regions and every active ancestor', () => {
    assert.deepEqual(activeStateIds(root, { self: { Provisioned: 'Ready' } }), [
      'provisioning',
      'provisioning.self',
      'provisioning.self.Provisioned',
      'provisioning.self.Provisioned.Ready',
    ]);
    assert.deepEqual(activeStateIds(statechartGraph(peerMachine).root, 'NotDetermined'), ['peer', 'peer.NotDetermined']);
  });

  it('ignores names the machine does not have', () => {
    assert.deepEqual(activeStateIds(root, { self: 'Gone', other: 'X' }), ['provisioning', 'provisioning.self']);
    assert.deepEqual(activeStateIds(root, undefined), ['provisioning']);
  });

  it('formats a state value on one line', () => {
    assert.equal(formatStateValue({ self: { Provisioned: 'Ready' } }), 'self.Provisioned.Ready');
    assert.equal(formatStateValue('NotDetermined'), 'NotDetermined');
    assert.equal(formatStateValue({ a: 'X', b: { c: 'Y' } }), 'a.X, b.c.Y');
  });
});
