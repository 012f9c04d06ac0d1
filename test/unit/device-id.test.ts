import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkDeviceId } from '../../machines/device-id.ts';
import { requestedPeers, roomForRequestedPeer } from '../../machines/requested-peers.ts';

describe('ProvisionPeer ids', () => {
  const own = { ownName: 'bmc-a' };
  it('"self" in lower case provisions this BMC; a peer name is a peer', () => {
    assert.deepEqual(checkDeviceId('self', own), { kind: 'self' });
    assert.deepEqual(checkDeviceId('bmc-b', own), { kind: 'peer', id: 'bmc-b' });
    assert.deepEqual(checkDeviceId('selfie', own), { kind: 'peer', id: 'selfie' });
  });
  it('refuses every other case of "self", saying that only "self" provisions this BMC', () => {
    for (const id of ['SELF', 'Self', 'sElF', 'selF']) {
      const check = checkDeviceId(id, own);
      assert.equal(check.kind, 'invalid', id);
      if (check.kind === 'invalid') assert.match(check.reason, /reserved: only "self", in lower case/);
    }
  });
  it("knows this BMC's own name in any case, and only when it is given", () => {
    for (const id of ['bmc-a', 'BMC-A', 'Bmc-A']) assert.deepEqual(checkDeviceId(id, own), { kind: 'own' }, id);
    assert.deepEqual(checkDeviceId('bmc-a'), { kind: 'peer', id: 'bmc-a' });
  });
  it('refuses what is not a host name before anything else', () => {
    for (const id of ['', 'a b', 'x'.repeat(254), 'bmc\u202eb', 'bmc\u200bb', '-bmc']) assert.equal(checkDeviceId(id, own).kind, 'invalid', JSON.stringify(id));
  });
});

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
