import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addDeparted } from '../../machines/departed-peers.ts';
import { requestedPeers, roomForRequestedPeer } from '../../machines/requested-peers.ts';

describe('the cap on peers named by ProvisionPeer alone', () => {
  const tables = {
    peerNames: ['bmc-s', 'bmc-n', 'bmc-x'],
    staticPeers: [{ name: 'bmc-s', address: '192.0.2.1', port: 8090 }],
    discovered: { 'bmc-n': { name: 'bmc-n', address: '192.0.2.2', port: 8090 }, 'bmc-m': { name: 'bmc-m', address: '192.0.2.3', port: 8090 } },
    maxRequestedPeers: 1,
  };
  it('counts neither static peers nor LLDP neighbours', () => {
    assert.deepEqual(requestedPeers(tables), ['bmc-x']);
  });
  it('refuses a new name at the cap; a known peer, static peer or neighbour is always let through', () => {
    assert.equal(roomForRequestedPeer(tables, 'bmc-y'), false);
    for (const id of ['bmc-x', 'bmc-s', 'bmc-n', 'bmc-m']) assert.equal(roomForRequestedPeer(tables, id), true, id);
    assert.equal(roomForRequestedPeer({ ...tables, maxRequestedPeers: 2 }, 'bmc-y'), true);
  });
});

describe('departed LLDP neighbours, at most lldp_max_neighbors without trust', () => {
  it('keeps the latest ones without trust, oldest dropped first, and every attested one', () => {
    const attestedNames = ['bmc-t'];
    assert.deepEqual(addDeparted({ departed: ['bmc-1', 'bmc-t', 'bmc-2'], name: 'bmc-3', attestedNames, max: 2 }), ['bmc-t', 'bmc-2', 'bmc-3']);
    assert.deepEqual(addDeparted({ departed: ['bmc-1'], name: 'bmc-t', attestedNames, max: 1 }), ['bmc-1', 'bmc-t']);
    assert.deepEqual(addDeparted({ departed: ['bmc-1', 'bmc-2'], name: 'bmc-1', attestedNames, max: 2 }), ['bmc-1', 'bmc-2'], 'a name is listed once');
  });
  it('stays bounded however many names come and go', () => {
    let departed: string[] = [];
    for (let i = 0; i < 10_000; i++) departed = addDeparted({ departed, name: `flood-${i}`, attestedNames: [], max: 256 });
    assert.equal(departed.length, 256);
    assert.equal(departed.at(-1), 'flood-9999');
    assert.equal(departed[0], 'flood-9744');
  });
});
