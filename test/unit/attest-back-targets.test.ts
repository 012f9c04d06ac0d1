import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attestBackTargets } from '../../machines/attest-back-targets.ts';

const peer = (name: string, address: string) => ({ name, address, port: 8090 });

describe('attestBackTargets: whom a requester that attested us stands for', () => {
  it('a static peer configured at the address (an IPv4-mapped address counts as IPv4)', () => {
    const known = { staticPeers: [peer('bmc-a', '192.0.2.1'), peer('bmc-b', '192.0.2.2')], discovered: {} };
    assert.deepEqual(attestBackTargets('::ffff:192.0.2.1', known), ['bmc-a']);
    assert.deepEqual(attestBackTargets('192.0.2.9', known), []);
  });

  it('an LLDP neighbour announcing the address', () => {
    const known = { staticPeers: [], discovered: { 'bmc-2': peer('bmc-2', '169.254.77.2'), 'bmc-3': peer('bmc-3', '169.254.77.3') } };
    assert.deepEqual(attestBackTargets('169.254.77.2', known), ['bmc-2']);
    assert.deepEqual(attestBackTargets('169.254.77.1', known), []);
  });

  it('a neighbour with a static peer\'s name is that static peer, at its configured address only', () => {
    const known = { staticPeers: [peer('bmc-2', '192.0.2.2')], discovered: { 'bmc-2': peer('bmc-2', '169.254.77.2') } };
    assert.deepEqual(attestBackTargets('169.254.77.2', known), []);
    assert.deepEqual(attestBackTargets('192.0.2.2', known), ['bmc-2']);
  });

  it('every peer at a shared address, each once', () => {
    const known = { staticPeers: [peer('bmc-a', '127.0.0.1'), peer('bmc-b', '127.0.0.1')], discovered: { 'bmc-c': peer('bmc-c', '127.0.0.1') } };
    assert.deepEqual(attestBackTargets('127.0.0.1', known), ['bmc-a', 'bmc-b', 'bmc-c']);
  });
});
