/** Refusals expected before mutual attestation: info once per peer and kind, debug after, again after a link. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectedRefusals, type AwaitedAttestation } from '../../src/tls/expected-refusals.ts';
import { captureLog } from '../harness/capture-log.ts';

/** A refusal of `peer` as the links note it: a LINK_FAILED awaiting the peer's attestation unless told. */
function refusal(peer: string, message: string, o: { event?: string; awaiting?: AwaitedAttestation } = {}) {
  const event = o.event ?? 'LINK_FAILED';
  return { peer, message, fields: { peer, event }, awaiting: o.awaiting ?? 'by-peer' };
}

describe('expected refusals', () => {
  it('logs each peer once at info, repeats at debug, and once more after its link came up', () => {
    const { log, records } = captureLog();
    const expected = expectedRefusals(log);
    for (let i = 0; i < 3; i++) {
      expected.note(refusal('bmc-2', 'link attempt failed'));
      expected.note(refusal('bmc-3', 'link attempt failed'));
    }
    const levels = (peer: string) => records().filter((r) => r['peer'] === peer).map((r) => r['level']);
    assert.deepEqual(levels('bmc-2'), ['info', 'debug', 'debug']);
    assert.deepEqual(levels('bmc-3'), ['info', 'debug', 'debug']);
    expected.clear('bmc-2');
    expected.note(refusal('bmc-2', 'link attempt failed'));
    assert.deepEqual(levels('bmc-2'), ['info', 'debug', 'debug', 'info']);
    assert.equal(records().filter((r) => r['level'] === 'warn').length, 0);
  });

  it('says whose attestation ends the refusals: the peer of this BMC, or this BMC of the peer', () => {
    const { log, records } = captureLog();
    const expected = expectedRefusals(log);
    expected.note(refusal('bmc-2', 'link attempt failed', { awaiting: 'by-peer' }));
    expected.note(refusal('bmc-3', 'link attempt failed', { awaiting: 'by-us' }));
    assert.deepEqual(
      records().map((r) => r['message']),
      [
        'link attempt failed (expected until it has attested this BMC; repeats at debug)',
        'link attempt failed (expected until this BMC has attested it; repeats at debug)',
      ],
    );
  });

  it('a first failure of one kind does not hide the first of another: not listening yet, then its certificate refused', () => {
    const { log, records } = captureLog();
    const expected = expectedRefusals(log);
    for (let i = 0; i < 2; i++) expected.note(refusal('bmc-2', 'connect ECONNREFUSED', { event: 'LINK_FAILED', awaiting: 'by-us' }));
    for (let i = 0; i < 2; i++) expected.note(refusal('bmc-2', 'server certificate refused', { event: 'LINK_REJECTED', awaiting: 'by-us' }));
    expected.note(refusal('bmc-2', 'connection closed before the link was up', { event: 'LINK_FAILED', awaiting: 'by-peer' }));
    assert.deepEqual(
      records().map((r) => `${r['level']} ${String(r['message']).split(' (')[0]}`),
      ['info connect ECONNREFUSED', 'debug connect ECONNREFUSED', 'info server certificate refused', 'debug server certificate refused', 'info connection closed before the link was up'],
    );
  });

  it('stays bounded when thousands of addresses are refused: old ones are forgotten, recent ones kept', () => {
    const { log, records } = captureLog();
    const expected = expectedRefusals(log);
    const address = (i: number) => `10.0.${i >> 8}.${i & 255}`;
    for (let i = 0; i < 5000; i++) expected.note(refusal(address(i), 'handshake refused'));
    expected.note(refusal(address(4999), 'handshake refused'));
    expected.note(refusal(address(0), 'handshake refused'));
    const last = records().slice(-2).map((r) => [r['peer'], r['level']]);
    assert.deepEqual(last, [
      [address(4999), 'debug'],
      [address(0), 'info'],
    ], 'the first address was forgotten: the memory does not grow with every address ever refused');
  });
});
