import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkDeviceId } from '../../machines/device-id.ts';

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
