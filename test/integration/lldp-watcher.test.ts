/**
 * The LLDP watcher against hostile LLDP objects on a real bus: a test process owns
 * xyz.openbmc_project.LLDP and publishes wrong types, empty, duplicate and malicious values, our own
 * name, and thousands of neighbours. The watcher keeps the good ones, logs clear lines (rate
 * limited), stays within lldp_max_neighbors, and never throws.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dbus from 'dbus-next';
import { addMatch, dbusErrorName, signalRule } from '../../src/dbus/bus-call.ts';
import { exportObjectManager, type InterfaceMap } from '../../src/dbus/object-manager.ts';
import type { Logger } from '../../src/log.ts';
import { lldpNames } from '../../src/lldp/lldp-names.ts';
import { watchLldp, type LldpWatcher } from '../../src/lldp/lldp-watcher.ts';
import type { NeighbourChange } from '../../src/lldp/neighbour-table.ts';
import { captureLog } from '../harness/capture-log.ts';
import { eventually } from '../harness/daemon.ts';
import { LLDP_BRIDGE_POLICY } from '../harness/netns-lldp.ts';
import { startPrivateBus, type PrivateBus } from '../harness/private-bus.ts';

const { Interface, ACCESS_READ } = dbus.interface;
const LLDP = 'xyz.openbmc_project.LLDP';
const TLVS = 'xyz.openbmc_project.Network.LLDP.TLVs';
const ROOT = '/xyz/openbmc_project/network/lldp';
const RECEIVE = `${ROOT}/eth1/receive`;

/** A neighbour object whose values may be anything: `sig` picks the D-Bus type of SystemName. */
class StringTlvs extends Interface {
  name = '';
  address = '';
  get SystemName(): string {
    return this.name;
  }
  get ManagementAddressIPv4(): string {
    return this.address;
  }
}
StringTlvs.configureMembers({
  properties: { SystemName: { signature: 's', access: ACCESS_READ }, ManagementAddressIPv4: { signature: 's', access: ACCESS_READ } },
});
class IntNameTlvs extends Interface {
  get SystemName(): number {
    return 42;
  }
  get ManagementAddressIPv4(): string {
    return '192.0.2.42';
  }
}
IntNameTlvs.configureMembers({
  properties: { SystemName: { signature: 'i', access: ACCESS_READ }, ManagementAddressIPv4: { signature: 's', access: ACCESS_READ } },
});

/** A watcher of eth1's neighbours as provisioningd runs it, at most 50 objects, on `client`. */
const startWatcher = (client: dbus.MessageBus, log: Logger, onChange: (c: NeighbourChange) => void) =>
  watchLldp({
    bus: client,
    names: lldpNames({
      lldp_service: LLDP,
      lldp_object_root: ROOT,
      lldp_interface: TLVS,
      lldp_name_property: 'SystemName',
      lldp_address_property: 'ManagementAddressIPv4',
      interface_id: 'eth1',
    }),
    ownName: 'bmc-self',
    maxObjects: 50,
    log,
    callTimeoutMs: 5000,
    onChange,
  });

describe('the LLDP watcher against hostile neighbours', () => {
  let bus: PrivateBus;
  let server: dbus.MessageBus;
  let client: dbus.MessageBus;
  const watchers: LldpWatcher[] = [];
  const published = new Map<string, InterfaceMap>();
  let manager: ReturnType<typeof exportObjectManager>;

  before(async () => {
    bus = await startPrivateBus({ policies: [LLDP_BRIDGE_POLICY] });
    server = dbus.sessionBus({ busAddress: bus.address });
    client = dbus.sessionBus({ busAddress: bus.address });
    manager = exportObjectManager(server, ROOT, () => published);
    await server.requestName(LLDP, dbus.NameFlag.DO_NOT_QUEUE);
  }, { timeout: 300_000 });
  after(async () => {
    for (const w of watchers) await w.close();
    server.disconnect();
    client.disconnect();
    await bus.stop();
  }, { timeout: 120_000 });

  const publish = (path: string, name: string, address: string) => {
    const iface = new StringTlvs(TLVS);
    iface.name = name;
    iface.address = address;
    server.export(path, iface);
    const props = { [TLVS]: { SystemName: new dbus.Variant('s', name), ManagementAddressIPv4: new dbus.Variant('s', address) } };
    published.set(path, props);
    manager.added(path, props);
    return iface;
  };

  it('keeps good neighbours, refuses bad ones with clear lines, stays bounded, never throws', async () => {
    // Present at start (read with GetAll / Introspect): a SystemName of the wrong type, and one good neighbour.
    server.export(RECEIVE, new IntNameTlvs(TLVS));
    publish(`${RECEIVE}/n1`, 'bmc-good', '192.0.2.10');

    const captured = captureLog();
    const changes: NeighbourChange[] = [];
    const watcher = await startWatcher(client, captured.log, (c) => changes.push(c));
    watchers.push(watcher);
    assert.deepEqual(watcher.neighbours(), [{ name: 'bmc-good', address: '192.0.2.10' }], 'read at start');
    assert.ok(captured.lines().some((l) => /SystemName is not a string \(number\)/.test(l)), captured.lines().join('\n'));

    // Arriving later (InterfacesAdded): every kind of bad value.
    const bad: Array<[string, string, RegExp]> = [
      ['', '192.0.2.11', /SystemName is empty/],
      ['bmc-self', '192.0.2.12', /our own name/],
      ['../../etc/passwd', '192.0.2.13', /refused/],
      ['evil\nname\u0007', '192.0.2.14', /refused/],
      ['x'.repeat(5000), '192.0.2.15', /longer than 253/],
      ['bmc-noaddr', '', /address is empty/],
      ['bmc-loop', '127.0.0.1', /loopback/],
      ['bmc-bcast', '255.255.255.255', /broadcast/],
      ['bmc-good', '192.0.2.66', /duplicate SystemName bmc-good/],
    ];
    for (const [i, [name, address]] of bad.entries()) publish(`${RECEIVE}/b${i}`, name, address);
    publish(`${RECEIVE}/n2`, 'bmc-late', '192.0.2.20');
    assert.ok(await eventually(() => watcher.neighbours().some((n) => n.name === 'bmc-late'), 10_000), 'a later good neighbour is taken');
    for (const [, , reason] of bad) {
      assert.ok(captured.lines().some((l) => reason.test(l)), `a clear line for ${reason}: ${captured.lines().join('\n')}`);
    }
    for (const line of captured.lines()) {
      assert.ok(line.length < 600, `log lines stay short: ${line.slice(0, 100)}…`);
      assert.ok(![...line].some((c) => c === '\n' || c === '\u0007'), 'control characters are escaped');
    }
    assert.deepEqual(
      watcher.neighbours().map((n) => n.name).sort(),
      ['bmc-good', 'bmc-late'],
    );

    // A malformed signal (wrong body types) is ignored.
    server.send(dbus.Message.newSignal(ROOT, 'org.freedesktop.DBus.ObjectManager', 'InterfacesAdded', 's', ['not a path']));

    // Thousands of neighbours: the table stops at lldp_max_neighbors; the log is rate limited.
    const before = captured.lines().length;
    for (let i = 0; i < 3000; i++) publish(`${RECEIVE}/f${i}`, `flood-${i}`, `10.${(i >> 8) & 255}.${i & 255}.1`);
    assert.ok(await eventually(() => watcher.neighbours().length >= 40, 30_000, 100));
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(watcher.neighbours().length <= 50, `bounded: ${watcher.neighbours().length}`);
    const floodLines = captured.lines().length - before;
    assert.ok(floodLines < 100, `the flood logged ${floodLines} lines, not thousands`);

    // Removal: a good neighbour going away is reported gone; the duplicate then takes its name.
    server.unexport(`${RECEIVE}/n1`, undefined as unknown as dbus.interface.Interface);
    published.delete(`${RECEIVE}/n1`);
    manager.removed(`${RECEIVE}/n1`, [TLVS]);
    assert.ok(await eventually(() => changes.some((c) => c.type === 'up' && c.neighbour.address === '192.0.2.66'), 10_000), JSON.stringify(changes.slice(0, 5)));
  });
});

describe('the LLDP watcher against a forged owner change', () => {
  let bus: PrivateBus;
  const connections: dbus.MessageBus[] = [];
  const watchers: LldpWatcher[] = [];

  before(async () => {
    bus = await startPrivateBus({ policies: [LLDP_BRIDGE_POLICY] });
  }, { timeout: 300_000 });
  after(async () => {
    for (const w of watchers) await w.close();
    for (const c of connections) c.disconnect();
    await bus.stop();
  }, { timeout: 120_000 });

  const connect = () => {
    const c = dbus.sessionBus({ busAddress: bus.address });
    connections.push(c);
    return c;
  };

  it('a NameOwnerChanged sent by a client, not the bus daemon, does not hand the LLDP service to it', async () => {
    const server = connect();
    const client = connect();
    const rogue = connect();
    const published = new Map<string, InterfaceMap>();
    const manager = exportObjectManager(server, ROOT, () => published);
    await server.requestName(LLDP, dbus.NameFlag.DO_NOT_QUEUE);
    const captured = captureLog();
    const watcher = await startWatcher(client, captured.log, () => undefined);
    watchers.push(watcher);
    // Unique names are known once each connection said Hello (a bus call answered); dbus-next
    // keeps its own as `name`, which its typings leave out.
    await Promise.all([rogue, client, server].map((c) => c.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus')));
    const uniqueName = (c: dbus.MessageBus): string => {
      const name: unknown = Reflect.get(c, 'name');
      if (typeof name !== 'string') throw new Error('the connection has no unique name yet');
      return name;
    };
    const direct = (msg: dbus.Message) => {
      msg.destination = uniqueName(client);
      rogue.send(msg);
    };
    const tlvs = (name: string, address: string) => ({ [TLVS]: { SystemName: new dbus.Variant('s', name), ManagementAddressIPv4: new dbus.Variant('s', address) } });

    // The forgery: the LLDP name "moved" to the rogue client, then its own neighbour, sent to the watcher directly.
    direct(dbus.Message.newSignal('/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameOwnerChanged', 'sss', [LLDP, uniqueName(server), uniqueName(rogue)]));
    direct(dbus.Message.newSignal(ROOT, 'org.freedesktop.DBus.ObjectManager', 'InterfacesAdded', 'oa{sa{sv}}', [`${RECEIVE}/forged`, tlvs('bmc-forged', '192.0.2.99')]));

    // The real owner's neighbour, published after the forgery, is still taken; the forged one never is.
    const path = `${RECEIVE}/n1`;
    published.set(path, tlvs('bmc-real', '192.0.2.10'));
    manager.added(path, tlvs('bmc-real', '192.0.2.10'));
    assert.ok(await eventually(() => watcher.neighbours().some((n) => n.name === 'bmc-real'), 10_000), `the real owner's neighbour: ${captured.lines().join('\n')}`);
    assert.deepEqual(watcher.neighbours().map((n) => n.name), ['bmc-real'], 'the forged neighbour was not taken');
    assert.ok(!captured.lines().some((l) => l.includes(uniqueName(rogue))), `the forged owner is never believed:\n${captured.lines().join('\n')}`);
  });
});

describe('the LLDP watcher whose start the bus refuses', () => {
  let bus: PrivateBus;
  let client: dbus.MessageBus;
  let dir: string;

  before(async () => {
    // A bus that takes two match rules per connection: the watcher needs three.
    dir = mkdtempSync(join(tmpdir(), 'lldp-limit-'));
    const limit = join(dir, 'limit.conf');
    writeFileSync(
      limit,
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><limit name="max_match_rules_per_connection">2</limit></busconfig>
`,
    );
    bus = await startPrivateBus({ policies: [LLDP_BRIDGE_POLICY, limit], dir });
    client = dbus.sessionBus({ busAddress: bus.address });
  }, { timeout: 300_000 });
  after(async () => {
    client.disconnect();
    await bus.stop();
    rmSync(dir, { recursive: true, force: true });
  }, { timeout: 120_000 });

  it('leaves neither its message listener nor its match rules behind, however often it is tried', async () => {
    const listeners = client.listenerCount('message');
    for (let attempt = 0; attempt < 3; attempt++) {
      await assert.rejects(startWatcher(client, captureLog().log, () => undefined), (err: Error) => {
        assert.equal(dbusErrorName(err), 'org.freedesktop.DBus.Error.LimitsExceeded', err.message);
        return true;
      });
      assert.equal(client.listenerCount('message'), listeners, `no message listener left after attempt ${attempt + 1}`);
    }
    // The rules of the failed starts were removed: the connection may add its two again.
    for (const member of ['One', 'Two']) await addMatch(client, signalRule({ interface: 'org.example.Test', member }), 5000);
  });
});
