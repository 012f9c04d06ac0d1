/**
 * Per-peer objects: a BMC with two static peers, one up and one that never answers. The aggregate
 * peerConnected says Connected; the per-peer objects tell the operator which one is down and why,
 * through busctl, GetManagedObjects (also as a non-root reader) and `busctl tree`.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { TrustStore } from '../../src/pki/trust/index.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, freePort, getProperty, IFACE, OBJECT, SERVICE, STATUS, type DaemonHandle } from '../harness/daemon.ts';
import { daemonTrustDir } from '../harness/daemon-trust-dir.ts';
import { dbusSend } from '../harness/dbus-send.ts';
import { peerProperty } from '../harness/peer-property.ts';
import { recordPeerStatus } from '../harness/peer-status-recorder.ts';
import type { PrivateBus } from '../harness/private-bus.ts';
import { selfProvisioningFilesExist } from '../harness/self-provisioning-files.ts';

const CONNECTED = `${STATUS}.Connected`;
const NOT_CONNECTED = `${STATUS}.NotConnected`;
const LINK_CONFIG = { keepalive_interval: 0.5, keepalive_timeout: 1, idle_timeout: 3, handshake_timeout: 2, retry_base: 0.2, retry_timer: 1 };
const DEADLINE_MS = 30_000;


describe('per-peer D-Bus objects', () => {
  const fixture = useBusFixture();

  it('each peer has its own peerConnected and lastFailure; the ObjectManager lists them', async () => {
    const [portA, portB, deadPort] = [await freePort(), await freePort(), await freePort()];
    const busA = fixture.bus();
    const busB = await fixture.newBus();
    const cfg = (name: string, port: number, peers: object[]) => {
      const dir = fixture.tempDir(`pd-${name}-`);
      return { dir, config: { name, port, cert_root: `${join(dir, 'root')}/`, state_dir: join(dir, 'state'), peers, ...LINK_CONFIG } };
    };
    const a = cfg('bmc-a', portA, [
      { name: 'bmc-b', address: '127.0.0.1', port: portB },
      { name: 'bmc-c', address: '127.0.0.1', port: deadPort },
    ]);
    const b = cfg('bmc-b', portB, [{ name: 'bmc-a', address: '127.0.0.1', port: portA }]);
    const daemons: Array<[DaemonHandle, PrivateBus, typeof a]> = [];
    for (const [bus, c] of [[busA, a], [busB, b]] as const) {
      const d = await fixture.startDaemon({ bus, dir: c.dir, config: c.config });
      daemons.push([d, bus, c]);
      const r = await busctl(bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
      assert.equal(r.code, 0, r.stderr);
      const root = String(c.config.cert_root);
      assert.ok(await eventually(() => selfProvisioningFilesExist(root), DEADLINE_MS));
    }
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const dir = daemonTrustDir(to.config);
      mkdirSync(dir, { recursive: true });
      copyFileSync(certPaths(String(from.config.cert_root)).selfCa, join(dir, `${from.config.name}-ca.pem`));
    }
    const pathB = `${OBJECT}/peers/bmc_2db`;
    const pathC = `${OBJECT}/peers/bmc_2dc`;
    const [dA] = daemons[0] ?? [];

    assert.ok(await eventually(async () => (await peerProperty(busA, pathB, 'peerConnected')) === CONNECTED, DEADLINE_MS), `bmc-b Connected\n${dA?.output()}`);
    assert.ok(await eventually(async () => (await peerProperty(busA, pathC, 'peerConnected')) === NOT_CONNECTED, DEADLINE_MS), 'bmc-c NotConnected');
    assert.equal(await getProperty(busA, 'peerConnected'), CONNECTED, 'the root property keeps its meaning: the highest link');
    assert.match((await peerProperty(busA, pathC, 'lastFailure')) ?? '', /^LINK_FAILED: /, 'bmc-c says why');
    // A failure before trust was placed is cleared once bmc-a's own link to bmc-b is up.
    assert.ok(
      await eventually(async () => (await peerProperty(busA, pathB, 'lastFailure')) === '', DEADLINE_MS),
      `no failure left on bmc-b (still: ${await peerProperty(busA, pathB, 'lastFailure')})`,
    );
    assert.equal(await peerProperty(busA, pathB, 'attested'), 'false', 'trust was placed by the operator, not attested');

    // ProvisionPeer of the connected bmc-b, whose trust was placed by hand: its attestation starts
    // (no attestationd on this bus, so it fails at once), and the link is dialled again after it.
    const provisionB = await busctl(busA, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-b');
    assert.equal(provisionB.code, 0, provisionB.stderr);
    assert.ok(await dA?.waitForOutput(/(?<!re-)attestation of bmc-b failed: /, DEADLINE_MS), `ProvisionPeer(bmc-b) attested the connected peer\n${dA?.output()}`);
    assert.ok(await eventually(async () => (await peerProperty(busA, pathB, 'peerConnected')) === CONNECTED, DEADLINE_MS), `bmc-b Connected again\n${dA?.output()}`);

    // A name attested in an earlier run (an attested CA bound to it), that is neither a static peer
    // nor an LLDP neighbour: ProvisionPeer finds no address. Its object says so, NotConnected, not
    // InProgress for ever (which would lift the root peerConnected, checked at the end).
    await new TrustStore({ dir: daemonTrustDir(a.config) }).addAttested(readFileSync(certPaths(String(a.config.cert_root)).selfCa, 'utf8'), 'bmc-x');
    assert.ok(await dA?.waitForOutput(/trust store: .*bmc-x/, DEADLINE_MS), `bmc-a's trust store bound a CA to bmc-x\n${dA?.output()}`);
    const pathX = `${OBJECT}/peers/bmc_2dx`;
    const provisionX = await busctl(busA, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-x');
    assert.equal(provisionX.code, 0, provisionX.stderr);
    assert.ok(
      await eventually(async () => /^ATTESTATION_FAILED: no address known for bmc-x/.test((await peerProperty(busA, pathX, 'lastFailure')) ?? ''), DEADLINE_MS),
      `bmc-x says why\n${dA?.output()}`,
    );
    assert.equal(await peerProperty(busA, pathX, 'peerConnected'), NOT_CONNECTED);
    assert.ok(await eventually(async () => (await peerProperty(busA, pathX, 'attested')) === 'true', DEADLINE_MS), 'bmc-x keeps its attested trust');

    const tree = await busctl(busA, 'tree', SERVICE);
    assert.match(tree.stdout, /\/xyz\/openbmc_project\/Provisioning\/peers\/bmc_2db/);
    assert.match(tree.stdout, /\/xyz\/openbmc_project\/Provisioning\/peers\/bmc_2dc/);

    // GetManagedObjects, as a reader who is not root (the shipped policy allows it).
    const managed = await dbusSend({ bus: busA, method: 'org.freedesktop.DBus.ObjectManager.GetManagedObjects', asNobody: true });
    assert.equal(managed.code, 0, managed.stderr);
    assert.match(managed.stdout, /object path "\/xyz\/openbmc_project\/Provisioning\/peers\/bmc_2db"/);
    assert.match(managed.stdout, /string "xyz.openbmc_project.Provisioning.Peer"/);
    assert.match(managed.stdout, /PeerConnectionStatus\.Connected/);

    // bmc-b dies: its object says so, the other peer's object is unchanged in meaning.
    const [dB] = daemons[1] ?? [];
    dB?.kill('SIGKILL');
    await dB?.exited();
    assert.ok(await eventually(async () => (await peerProperty(busA, pathB, 'peerConnected')) === NOT_CONNECTED, DEADLINE_MS), 'bmc-b NotConnected');
    assert.match((await peerProperty(busA, pathB, 'lastFailure')) ?? '', /^LINK_(DOWN|FAILED): /);
    // bmc-b and bmc-c are dialled again every second (InProgress for the moment of each dial): the
    // root must come down to NotConnected between dials, which it never would if bmc-x stayed InProgress.
    assert.ok(
      await eventually(async () => (await getProperty(busA, 'peerConnected')) === NOT_CONNECTED, DEADLINE_MS),
      `no peer is left InProgress (bmc-x has no address): ${await peerProperty(busA, pathX, 'peerConnected')}\n${dA?.output()}`,
    );
  });
});

describe('peers named by ProvisionPeer alone: at most max_requested_peers, and a failed one is forgotten', () => {
  const fixture = useBusFixture();
  const LIFETIME_S = 6;

  it('names up to the cap are taken, the next gets TooManyResources; failed ones leave with InterfacesRemoved after failed_peer_lifetime', async () => {
    const bus = fixture.bus();
    const d = await fixture.startDaemon({ config: { name: 'bmc-a', max_requested_peers: 3, failed_peer_lifetime: LIFETIME_S } });
    const self = await busctl(bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(self.code, 0, self.stderr);
    const recorder = await recordPeerStatus(bus);
    fixture.cleanup(() => recorder.close());

    // Unknown names (no static peer, no LLDP neighbour): no address, so each attestation fails at once.
    const sentAt = new Map<string, number>();
    for (const name of ['bmc-p1', 'bmc-p2', 'bmc-p3']) {
      sentAt.set(name, Date.now());
      const r = await dbusSend({ bus, args: [`string:${name}`] });
      assert.equal(r.errorName, undefined, `${name}: ${r.stderr}`);
    }
    const refused = await dbusSend({ bus, args: ['string:bmc-p4'] });
    assert.equal(refused.errorName, 'xyz.openbmc_project.Common.Error.TooManyResources', refused.stderr);
    assert.match(refused.stderr, /already 3 peers known through ProvisionPeer alone \(max_requested_peers\)/);
    assert.ok(await d.waitForOutput(/ProvisionPeer\("bmc-p4"\) refused: already 3 peers .* code=TooManyResources/), d.output());

    const since = Math.min(...sentAt.values());
    for (const name of ['bmc-p1', 'bmc-p2', 'bmc-p3']) {
      const failed = await recorder.waitFor((c) => c.peer === name && /^ATTESTATION_FAILED: no address known/.test(c.lastFailure ?? ''), {
        since,
        timeoutMs: DEADLINE_MS,
      });
      assert.ok(failed, `${name}: its object says why its attestation failed\n${d.output()}`);
    }
    // A name the daemon already knows is attested again at the cap (and its time starts again).
    sentAt.set('bmc-p1', Date.now());
    const again = await dbusSend({ bus, args: ['string:bmc-p1'] });
    assert.equal(again.errorName, undefined, again.stderr);
    assert.ok(!recorder.changes.some((c) => c.peer === 'bmc-p4'), 'the refused name got no object');

    for (const [name, at] of sentAt) {
      const removed = await recorder.waitFor((c) => c.peer === name && c.status === 'removed', { since, timeoutMs: LIFETIME_S * 1000 + DEADLINE_MS });
      assert.ok(removed, `${name} leaves with InterfacesRemoved\n${d.output()}`);
      // A lower bound only: the peer is never forgotten before failed_peer_lifetime (load can only delay it).
      assert.ok(removed.at - at >= LIFETIME_S * 1000, `${name} removed ${removed.at - at} ms after its ProvisionPeer, before failed_peer_lifetime`);
    }
    const tree = await busctl(bus, 'tree', SERVICE);
    assert.doesNotMatch(tree.stdout, /peers\/bmc_2dp/, 'no object of a forgotten peer is left');

    // The forgotten peers made room.
    const now = await dbusSend({ bus, args: ['string:bmc-p4'] });
    assert.equal(now.errorName, undefined, now.stderr);
    assert.ok(await recorder.waitFor((c) => c.peer === 'bmc-p4' && c.status === 'added', { since, timeoutMs: DEADLINE_MS }), 'bmc-p4 has its object now');
  });
});
