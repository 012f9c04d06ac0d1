/**
 * LLDP discovery on real networks: BMCs as network namespaces, each with lldpd (1 s tx-interval)
 * and the lldp bridge on its own private bus. What lldpd hears appears as
 * xyz.openbmc_project.LLDP objects (read with busctl, as an operator would), and the watcher the
 * daemon runs turns them into peers — and back into "gone" when a neighbour leaves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import dbus from 'dbus-next';
import { lldpNames } from '../../src/lldp/lldp-names.ts';
import { watchLldp, type LldpWatcher } from '../../src/lldp/lldp-watcher.ts';
import type { NeighbourChange } from '../../src/lldp/neighbour-table.ts';
import { captureLog } from '../harness/capture-log.ts';
import { busctl, eventually } from '../harness/daemon.ts';
import { createRack, type Rack } from '../harness/netns.ts';
import { LLDP_BRIDGE_POLICY, startLldpBridge, startLldpd, type NodeLldpd } from '../harness/netns-lldp.ts';
import { startPrivateBus, type PrivateBus } from '../harness/private-bus.ts';
import { stopProcess } from '../harness/stop-process.ts';

const LLDP = 'xyz.openbmc_project.LLDP';
const TLVS = 'xyz.openbmc_project.Network.LLDP.TLVs';
const RECEIVE = '/xyz/openbmc_project/network/lldp/eth1/receive';
const DEADLINE_MS = 20_000;
const NAMES = lldpNames({
  lldp_service: LLDP,
  lldp_object_root: '/xyz/openbmc_project/network/lldp',
  lldp_interface: TLVS,
  lldp_name_property: 'SystemName',
  lldp_address_property: 'ManagementAddressIPv4',
  interface_id: 'eth1',
});

const getString = async (bus: PrivateBus, path: string, prop: string) => {
  const r = await busctl(bus, 'get-property', LLDP, path, TLVS, prop);
  return r.code === 0 ? (JSON.parse(r.stdout.trim().replace(/^s /, '')) as string) : undefined;
};

describe('LLDP discovery between network namespaces (real lldpd, the lldp bridge, the watcher)', () => {
  let rack: Rack | undefined;
  const buses: PrivateBus[] = [];
  const clients: dbus.MessageBus[] = [];
  const watchers: LldpWatcher[] = [];
  const dirs: string[] = [];
  const cleanup = async () => {
    for (const w of watchers.splice(0)) await w.close().catch(() => undefined);
    for (const c of clients.splice(0)) c.disconnect();
    await rack?.teardown();
    rack = undefined;
    for (const b of buses.splice(0)) await b.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  };
  afterEach(cleanup, { timeout: 120_000 });
  after(cleanup, { timeout: 120_000 });

  const nodeBus = async () => {
    const bus = await startPrivateBus({ policies: [LLDP_BRIDGE_POLICY] });
    buses.push(bus);
    return bus;
  };
  const watch = async (bus: PrivateBus, ownName: string, changes: NeighbourChange[]) => {
    const client = dbus.sessionBus({ busAddress: bus.address });
    clients.push(client);
    const w = await watchLldp({
      bus: client,
      names: NAMES,
      ownName,
      maxObjects: 64,
      log: captureLog().log,
      callTimeoutMs: 5000,
      onChange: (c) => changes.push(c),
    });
    watchers.push(w);
    return w;
  };

  it('two BMCs on a veth pair: each sees the other at <root>/eth1/receive; a neighbour whose lldpd stops is gone', async () => {
    rack = await createRack({ size: 2 });
    const dir = mkdtempSync(join(tmpdir(), 'rack-lldp-'));
    dirs.push(dir);
    const [n1, n2] = rack.nodes;
    assert.ok(n1 && n2);
    const bus1 = await nodeBus();
    const lldpd1 = startLldpd(rack, n1, dir);
    const lldpd2: NodeLldpd = startLldpd(rack, n2, dir);
    const bridge = await startLldpBridge(rack, bus1, lldpd1.socket);

    // The watcher starts before the neighbour is known: it must learn it from InterfacesAdded.
    const changes: NeighbourChange[] = [];
    const w = await watch(bus1, n1.name, changes);
    assert.ok(
      await eventually(() => w.neighbours().some((n) => n.name === n2.name), DEADLINE_MS, 100),
      `bmc-1's watcher learns bmc-2\nbridge: ${bridge.output()}\nlldpd: ${lldpd1.output()}`,
    );
    assert.deepEqual(w.neighbours(), [{ name: n2.name, address: n2.address }]);
    assert.equal(await getString(bus1, RECEIVE, 'SystemName'), n2.name, 'busctl shows the neighbour at the proposal path');
    assert.equal(await getString(bus1, RECEIVE, 'ManagementAddressIPv4'), n2.address);
    const tree = await busctl(bus1, 'tree', LLDP);
    assert.match(tree.stdout, /\/xyz\/openbmc_project\/network\/lldp\/eth1\/receive/);

    // A second watcher started now reads the existing neighbour with GetAll.
    const late: NeighbourChange[] = [];
    const w2 = await watch(bus1, n1.name, late);
    assert.deepEqual(w2.neighbours(), [{ name: n2.name, address: n2.address }], 'read once at start');

    // bmc-2's lldpd stops (it sends a shutdown LLDPDU): the neighbour is gone on bmc-1.
    await stopProcess(lldpd2.process);
    assert.ok(await eventually(() => changes.some((c) => c.type === 'gone' && c.name === n2.name), DEADLINE_MS, 100), 'gone reported');
    assert.deepEqual(w.neighbours(), []);
    assert.equal(await getString(bus1, RECEIVE, 'SystemName'), undefined, 'the object is removed');

    // It comes back: up again.
    startLldpd(rack, n2, dir);
    assert.ok(await eventually(() => w.neighbours().some((n) => n.name === n2.name), DEADLINE_MS, 100), 'bmc-2 is back');
    assert.deepEqual(
      changes.map((c) => c.type),
      ['up', 'gone', 'up'],
    );
  });

  it('three BMCs on a bridge: each sees two neighbours, the second one below receive/', async () => {
    rack = await createRack({ size: 3 });
    const dir = mkdtempSync(join(tmpdir(), 'rack-lldp-'));
    dirs.push(dir);
    const [n1, n2, n3] = rack.nodes;
    assert.ok(n1 && n2 && n3);
    const bus1 = await nodeBus();
    const lldpd1 = startLldpd(rack, n1, dir);
    startLldpd(rack, n2, dir);
    startLldpd(rack, n3, dir);
    const bridge = await startLldpBridge(rack, bus1, lldpd1.socket);
    const changes: NeighbourChange[] = [];
    const w = await watch(bus1, n1.name, changes);
    assert.ok(
      await eventually(() => w.neighbours().length === 2, DEADLINE_MS, 100),
      `bmc-1 sees both: ${JSON.stringify(w.neighbours())}\n${bridge.output()}`,
    );
    assert.deepEqual(
      w.neighbours().sort((a, b) => a.name.localeCompare(b.name)),
      [
        { name: n2.name, address: n2.address },
        { name: n3.name, address: n3.address },
      ],
    );
    const tree = await busctl(bus1, 'tree', LLDP);
    assert.match(tree.stdout, /eth1\/receive\/n\d+/, `one neighbour below receive/:\n${tree.stdout}`);
  });
});
