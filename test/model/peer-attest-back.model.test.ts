/**
 * ATTEST_BACK (the peer attested us): a peer we have not attested yet is attested in return, once;
 * an attested peer (attested in this run, or with an attested CA in the trust store), a running
 * attestation and a working link are left alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, fromCallback, fromPromise } from 'xstate';
import type { AttestationTarget, CredentialsEvent, LinkEvent, LinkTarget } from '../../machines/events.ts';
import { peerMachine, type PeerInput } from '../../machines/peer.machine.ts';

const input: PeerInput = {
  name: 'bmc-b', address: '127.0.0.1', port: 8090, trustedOutOfBand: true,
  retry: { baseMs: 100, capMs: 800, fastRetries: 2 }, attestationTimeoutMs: 5000, forgetFailedMs: 60_000,
};

function peer(attested = false) {
  let attestations = 0;
  let finish: ((ok: boolean) => void) | undefined;
  let link: ((e: LinkEvent) => void) | undefined;
  const machine = peerMachine.provide({
    actors: {
      attestPeer: fromPromise<unknown, AttestationTarget>(() => {
        attestations++;
        return new Promise((resolve, reject) => (finish = (ok) => (ok ? resolve(true) : reject(new Error('MEASUREMENT_MISMATCH: measurement 1')))));
      }),
      tlsClient: fromCallback<CredentialsEvent, LinkTarget>(({ sendBack }) => {
        link = sendBack;
        return () => (link = undefined);
      }),
    },
  });
  const actor = createActor(machine, { input: { ...input, attested } }).start();
  const settle = () => new Promise((r) => setImmediate(r));
  return { actor, settle, attestations: () => attestations, finish: (ok: boolean) => finish?.(ok), link: (e: LinkEvent) => link?.(e) };
}

describe('peer machine: ATTEST_BACK', () => {
  it('attests a static peer whose dial is refused, once; later ATTEST_BACKs change nothing', async () => {
    const p = peer();
    assert.deepEqual(p.actor.getSnapshot().value, { Link: 'InProgress' });
    p.link({ type: 'LINK_REJECTED', reason: 'untrusted CA' });
    await p.settle();
    p.actor.send({ type: 'ATTEST_BACK' });
    assert.equal(p.actor.getSnapshot().value, 'Attesting');
    p.actor.send({ type: 'ATTEST_BACK' });
    assert.equal(p.attestations(), 1, 'no second attestation while one runs');
    p.finish(true);
    await p.settle();
    assert.equal(p.actor.getSnapshot().context.attested, true);
    assert.deepEqual(p.actor.getSnapshot().value, { Link: 'InProgress' });
    p.link({ type: 'LINK_FAILED', reason: 'the peer refused the handshake' });
    await p.settle();
    p.actor.send({ type: 'ATTEST_BACK' });
    assert.deepEqual(p.actor.getSnapshot().value, { NotConnected: 'Backoff' }, 'an attested peer is not attested again');
    assert.equal(p.attestations(), 1);
    p.actor.stop();
  });

  it('a failed attestation leaves the peer unattested with its reason, and the next ATTEST_BACK tries again', async () => {
    const p = peer();
    p.actor.send({ type: 'ATTEST_BACK' });
    p.finish(false);
    await p.settle();
    const s = p.actor.getSnapshot();
    // A static peer dials again (its trust may have been placed by hand); it stays unattested.
    assert.deepEqual(s.value, { Link: 'InProgress' });
    assert.equal(s.context.attested, false);
    assert.deepEqual(s.context.lastError, { code: 'ATTESTATION_FAILED', message: 'MEASUREMENT_MISMATCH: measurement 1' });
    p.actor.send({ type: 'ATTEST_BACK' });
    assert.equal(p.actor.getSnapshot().value, 'Attesting');
    assert.equal(p.attestations(), 2);
    p.actor.stop();
  });

  it('trust from an earlier run counts; once its CA is deleted from the trust store, the next ATTEST_BACK attests again', async () => {
    const p = peer(true);
    assert.equal(p.actor.getSnapshot().context.attested, true, 'the trust store held a CA attested for bmc-b at spawn');
    p.link({ type: 'LINK_REJECTED', reason: 'untrusted CA' });
    await p.settle();
    p.actor.send({ type: 'ATTEST_BACK' });
    assert.equal(p.attestations(), 0, 'attested already: not again');
    p.actor.send({ type: 'ATTESTATION_BOUND', bound: false });
    assert.equal(p.actor.getSnapshot().context.attested, false, 'the operator deleted the attested CA');
    p.actor.send({ type: 'ATTEST_BACK' });
    assert.equal(p.actor.getSnapshot().value, 'Attesting');
    assert.equal(p.attestations(), 1);
    p.actor.stop();
  });

  it('a working link is left alone', async () => {
    const p = peer();
    p.link({ type: 'LINK_UP' });
    await p.settle();
    p.actor.send({ type: 'ATTEST_BACK' });
    assert.deepEqual(p.actor.getSnapshot().value, { Link: { Connected: 'Trusted' } });
    assert.equal(p.attestations(), 0);
    p.actor.stop();
  });
});
