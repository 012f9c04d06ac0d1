/** Refusals expected before mutual attestation: info once per peer, debug after, again after a link. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectedRefusals } from '../../src/tls/expected-refusals.ts';
import { captureLog } from '../harness/capture-log.ts';

describe('expected refusals', () => {
  it('logs each peer once at info, repeats at debug, and once more after its link came up', () => {
    const { log, records } = captureLog();
    const expected = expectedRefusals(log);
    for (let i = 0; i < 3; i++) {
      expected.note('bmc-2', 'link attempt failed', { peer: 'bmc-2', event: 'LINK_FAILED' });
      expected.note('bmc-3', 'link attempt failed', { peer: 'bmc-3', event: 'LINK_FAILED' });
    }
    const levels = (peer: string) => records().filter((r) => r['peer'] === peer).map((r) => r['level']);
    assert.deepEqual(levels('bmc-2'), ['info', 'debug', 'debug']);
    assert.deepEqual(levels('bmc-3'), ['info', 'debug', 'debug']);
    assert.match(String(records()[0]?.['message']), /^link attempt failed \(expected until it has attested this BMC; logged once per peer\)$/);
    expected.clear('bmc-2');
    expected.note('bmc-2', 'link attempt failed', { peer: 'bmc-2', event: 'LINK_FAILED' });
    assert.deepEqual(levels('bmc-2'), ['info', 'debug', 'debug', 'info']);
    assert.equal(records().filter((r) => r['level'] === 'warn').length, 0);
  });

  it('stays bounded when thousands of addresses are refused: old ones are forgotten, recent ones kept', () => {
    const { log, records } = captureLog();
    const expected = expectedRefusals(log);
    const address = (i: number) => `10.0.${i >> 8}.${i & 255}`;
    for (let i = 0; i < 5000; i++) expected.note(address(i), 'handshake refused', { peer: address(i), event: 'HANDSHAKE_FAILED' });
    expected.note(address(4999), 'handshake refused', { peer: address(4999), event: 'HANDSHAKE_FAILED' });
    expected.note(address(0), 'handshake refused', { peer: address(0), event: 'HANDSHAKE_FAILED' });
    const last = records().slice(-2).map((r) => [r['peer'], r['level']]);
    assert.deepEqual(last, [
      [address(4999), 'debug'],
      [address(0), 'info'],
    ], 'the first address was forgotten: the memory does not grow with every address ever refused');
  });
});
