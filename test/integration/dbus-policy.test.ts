import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { getProperty, IFACE, OBJECT, onBus, SERVICE, STATUS } from '../harness/daemon.ts';
import { asNobody, dbusSend } from '../harness/dbus-send.ts';

const ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied';

describe('D-Bus policy (the shipped policy file on a private system bus)', () => {
  const fixture = useBusFixture();
  const theBus = fixture.bus;

  before(async () => {
    await fixture.startDaemon();
  }, { timeout: 300_000 });

  /** busctl run as nobody (uid/gid 65534, no groups). */
  const busctlAsNobody = (...args: string[]) => onBus(theBus(), ...asNobody('busctl', args));

  it('setpriv really runs the caller as nobody', async () => {
    const r = await onBus(theBus(), ...asNobody('id', ['-u']));
    assert.equal(r.stdout.trim(), '65534');
  });

  it('a non-root caller is denied ProvisionPeer (AccessDenied from the bus, for self and for a peer)', async () => {
    for (const arg of ['string:self', 'string:peer-b']) {
      const r = await dbusSend({ bus: theBus(), args: [arg], asNobody: true });
      assert.equal(r.errorName, ACCESS_DENIED, `${arg}: ${r.stderr}`);
    }
    const seed = await busctlAsNobody('call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.notEqual(seed.code, 0, 'busctl as nobody fails too');
    assert.match(seed.stderr, /Access denied|AccessDenied|rejected/i, seed.stderr);
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false', 'nothing changed');
  });

  it('a non-root caller may read both properties', async () => {
    const provisioned = await busctlAsNobody('get-property', SERVICE, OBJECT, IFACE, 'provisioned');
    assert.equal(provisioned.code, 0, provisioned.stderr);
    assert.equal(provisioned.stdout.trim(), 'b false');
    const peer = await busctlAsNobody('get-property', SERVICE, OBJECT, IFACE, 'peerConnected');
    assert.equal(peer.code, 0, peer.stderr);
    assert.equal(peer.stdout.trim(), `s "${STATUS}.NotDetermined"`);
    const all = await dbusSend({
      bus: theBus(),
      method: 'org.freedesktop.DBus.Properties.GetAll',
      args: [`string:${IFACE}`],
      asNobody: true,
    });
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /"provisioned"\s+variant\s+boolean false/);
  });

  it('a non-root caller may introspect', async () => {
    const r = await busctlAsNobody('introspect', SERVICE, OBJECT, IFACE);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\.ProvisionPeer\s+method\s+s\s/);
  });

  it('a non-root process cannot take the bus name', async () => {
    const r = await dbusSend({
      bus: theBus(),
      dest: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      method: 'org.freedesktop.DBus.RequestName',
      args: [`string:${SERVICE}`, 'uint32:2'],
      asNobody: true,
    });
    assert.equal(r.errorName, ACCESS_DENIED, r.stderr);
  });

  it('root reaches the daemon itself (its argument check answers, not the policy)', async () => {
    const r = await dbusSend({ bus: theBus(), args: ['string:'] });
    assert.equal(r.errorName, 'xyz.openbmc_project.Common.Error.InvalidArgument', r.stderr);
  });
});
