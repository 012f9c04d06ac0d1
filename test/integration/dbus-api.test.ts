import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import dbus from 'dbus-next';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, getProperty, IFACE, OBJECT, SERVICE, STATUS, type DaemonHandle } from '../harness/daemon.ts';
import { dbusSend } from '../harness/dbus-send.ts';
import { checkSelfProvisioningFiles } from '../harness/self-provisioning-files.ts';

const NAME = 'bmc-api';

/** One PropertiesChanged signal as a second client received it. */
interface Change {
  readonly iface: string;
  readonly changed: Record<string, unknown>;
  readonly invalidated: readonly string[];
}

describe('D-Bus API on a private system bus (the busctl commands of docs/dbus-api.md)', () => {
  const fixture = useBusFixture();
  const theBus = fixture.bus;
  let daemon: DaemonHandle | undefined;
  let client: dbus.MessageBus | undefined;
  const changes: Change[] = [];

  before(async () => {
    daemon = await fixture.startDaemon({ config: { name: NAME } });
    // A second client, subscribed before anything changes, as a GUI or another BMC service would be.
    client = dbus.sessionBus({ busAddress: theBus().address });
    const proxy = await client.getProxyObject(SERVICE, OBJECT);
    const props = proxy.getInterface('org.freedesktop.DBus.Properties');
    props.on('PropertiesChanged', (iface: string, changed: Record<string, dbus.Variant>, invalidated: string[]) => {
      changes.push({ iface, changed: Object.fromEntries(Object.entries(changed).map(([k, v]) => [k, v.value])), invalidated });
    });
  }, { timeout: 300_000 });

  fixture.cleanup(() => client?.disconnect());

  it('introspection shows ProvisionPeer(s) and three read-only properties that emit changes', async () => {
    const table = await busctl(theBus(), 'introspect', SERVICE, OBJECT, IFACE);
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.split('\n').map((l) => l.trim().split(/\s+/));
    const row = (name: string) => rows.find((r) => r[0] === name);
    assert.deepEqual(row('.ProvisionPeer')?.slice(0, 4), ['.ProvisionPeer', 'method', 's', '-']);
    assert.deepEqual(row('.peerConnected')?.slice(0, 3), ['.peerConnected', 'property', 's']);
    assert.deepEqual(row('.provisioned')?.slice(0, 3), ['.provisioned', 'property', 'b']);
    assert.ok(row('.peerConnected')?.includes('emits-change'));
    assert.ok(row('.provisioned')?.includes('emits-change'));
    assert.ok(!row('.peerConnected')?.includes('writable'), 'peerConnected is read-only');
    assert.ok(!row('.provisioned')?.includes('writable'), 'provisioned is read-only');
    assert.deepEqual(row('.clockPlausible')?.slice(0, 4), ['.clockPlausible', 'property', 'b', 'true']);
    assert.ok(row('.clockPlausible')?.includes('emits-change'));
    assert.ok(!row('.clockPlausible')?.includes('writable'), 'clockPlausible is read-only');

    const xml = await busctl(theBus(), 'introspect', '--xml-interface', SERVICE, OBJECT);
    assert.equal(xml.code, 0, xml.stderr);
    assert.match(xml.stdout, /<property name="peerConnected" type="s" access="read"\s*\/?>/);
    assert.match(xml.stdout, /<property name="provisioned" type="b" access="read"\s*\/?>/);
    assert.match(xml.stdout, /<property name="clockPlausible" type="b" access="read"\s*\/?>/);
    // One `in` argument of type s, and nothing returned.
    assert.match(xml.stdout, /<method name="ProvisionPeer">\s*<arg(?=[^>]*direction="in")(?=[^>]*type="s")[^>]*>\s*<\/method>/);
  });

  it('a fresh BMC: provisioned is false, peerConnected is NotDetermined', async () => {
    const provisioned = await busctl(theBus(), 'get-property', SERVICE, OBJECT, IFACE, 'provisioned');
    assert.equal(provisioned.code, 0, provisioned.stderr);
    assert.equal(provisioned.stdout.trim(), 'b false');
    const peer = await busctl(theBus(), 'get-property', SERVICE, OBJECT, IFACE, 'peerConnected');
    assert.equal(peer.code, 0, peer.stderr);
    assert.equal(peer.stdout.trim(), `s "${STATUS}.NotDetermined"`);
  });

  it('writing a property is refused and changes nothing', async () => {
    const r = await busctl(theBus(), 'set-property', SERVICE, OBJECT, IFACE, 'provisioned', 'b', 'true');
    assert.notEqual(r.code, 0);
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
  });

  it('ProvisionPeer(peer) before self-provisioning is refused with NotAllowed', async () => {
    const r = await dbusSend({ bus: theBus(), args: ['string:peer-b'] });
    assert.equal(r.errorName, 'xyz.openbmc_project.Common.Error.NotAllowed', r.stderr);
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
  });

  it('an empty or malformed id gets InvalidArgument', async () => {
    for (const arg of ['string:', 'string:bad/id', 'string:-leading-dash', 'string:has space', `string:${'a'.repeat(300)}`]) {
      const r = await dbusSend({ bus: theBus(), args: [arg] });
      assert.equal(r.errorName, 'xyz.openbmc_project.Common.Error.InvalidArgument', `${arg}: ${r.stderr}`);
    }
  });

  it("this BMC's own name and every case of self but \"self\" get InvalidArgument, before and after provisioning", async () => {
    for (const id of [NAME, NAME.toUpperCase(), 'SELF', 'Self', 'sELF']) {
      const r = await dbusSend({ bus: theBus(), args: [`string:${id}`] });
      assert.equal(r.errorName, 'xyz.openbmc_project.Common.Error.InvalidArgument', `${id}: ${r.stderr}`);
      assert.match(r.stderr, id.toLowerCase() === 'self' ? /only "self", in lower case, provisions this BMC/ : /this BMC's own name/);
    }
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false', 'nothing was provisioned');
  });

  it('a hostile id is logged escaped: a right-to-left override or a zero-width space never reaches the log raw', async () => {
    const r = await dbusSend({ bus: theBus(), args: ['string:bmc-\u202eb\u200bx'] });
    assert.equal(r.errorName, 'xyz.openbmc_project.Common.Error.InvalidArgument', r.stderr);
    assert.ok(await daemon?.waitForOutput(/ProvisionPeer\("bmc-\\u202eb\\u200bx"\) refused: .* code=InvalidArgument/), daemon?.output());
    assert.ok(!/[\u202e\u200b]/.test(daemon?.output() ?? ''), 'no raw U+202E or U+200B in the log');
  });

  it('a wrong signature is an error, and the daemon stays up', async () => {
    for (const args of [['int32:5'], [], ['string:self', 'string:extra']]) {
      const r = await dbusSend({ bus: theBus(), args });
      assert.notEqual(r.code, 0, `${args.join(' ')} must fail`);
      assert.ok(r.errorName?.startsWith('org.freedesktop.DBus.Error.'), `${args.join(' ')}: ${r.stderr}`);
    }
    assert.equal(daemon?.process.exitCode, null, 'daemon still running');
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
  });

  it('busctl call … ProvisionPeer s self provisions this BMC; provisioned becomes true', async () => {
    const r = await busctl(theBus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(r.code, 0, `${r.stderr}\n${daemon?.output() ?? ''}`);
    assert.equal(r.stdout.trim(), '', 'the method returns nothing');
    const after = await busctl(theBus(), 'get-property', SERVICE, OBJECT, IFACE, 'provisioned');
    assert.equal(after.stdout.trim(), 'b true');
  });

  it('a second client saw PropertiesChanged carrying provisioned = true', async () => {
    const seen = await eventually(() => changes.some((c) => c.changed['provisioned'] === true), 5000);
    assert.ok(seen, `signals seen: ${JSON.stringify(changes)}`);
    const change = changes.find((c) => c.changed['provisioned'] === true);
    assert.equal(change?.iface, IFACE);
  });

  it('the certificates are at the contract paths and verify with openssl', async () => {
    assert.ok(daemon);
    await checkSelfProvisioningFiles({ certRoot: String(daemon.config['cert_root']), name: NAME });
  });

  it('after provisioning, "self" still provisions, and the own name and "SELF" are still refused', async () => {
    for (const id of [NAME, 'SELF']) {
      const r = await dbusSend({ bus: theBus(), args: [`string:${id}`] });
      assert.equal(r.errorName, 'xyz.openbmc_project.Common.Error.InvalidArgument', `${id}: ${r.stderr}`);
    }
    const tree = await busctl(theBus(), 'tree', SERVICE);
    assert.doesNotMatch(tree.stdout, /peers\//, 'no peer object was created for them');
    const r = await dbusSend({ bus: theBus(), args: ['string:self'] });
    assert.equal(r.errorName, undefined, r.stderr);
  });

  it('ProvisionPeer(peer) is accepted once this BMC is provisioned', async () => {
    const r = await dbusSend({ bus: theBus(), args: ['string:peer-b'] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.errorName, undefined);
    assert.equal(await getProperty(theBus(), 'provisioned'), 'true');
    assert.equal(daemon?.process.exitCode, null, 'daemon still running');
  });
});
