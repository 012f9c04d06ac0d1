/**
 * The rack scenario on real networks: two BMCs as network namespaces on a veth pair, each with its
 * own bus, lldpd + lldp bridge, software token and provisioningd. No attestationd runs in the
 * rack yet, so the harness places each BMC's CA in the other's trust store (the test name says so). Each BMC's per-peer object for the other is followed from the bus (PropertiesChanged), so a
 * short-lived state is never missed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { getProperty, STATUS } from '../harness/daemon.ts';
import { createRack, type Rack } from '../harness/netns.ts';
import { expectPeerStatus, placeTrust, provisionPeer, startRackBmcs, startRackDaemon, stopRackBmcs, type RackBmc } from '../harness/netns-bmc.ts';
import type { PrivateBus } from '../harness/private-bus.ts';

/**
 * Deadline for each step. The keep-alive window is keepalive_interval + keepalive_timeout = 1.5 s
 * (idle_timeout 3 s inbound) and retries are at most 1 s apart; the deadline leaves room for a
 * loaded machine. How long each step really takes is measured in bench/rack.bench.ts.
 */
const STEP_MS = 20_000;

describe('a rack of two BMCs in network namespaces (trust placed by the harness)', () => {
  let rack: Rack | undefined;
  const buses: PrivateBus[] = [];
  let bmcs: RackBmc[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'rack-'));
  after(() => stopRackBmcs({ rack, bmcs, buses, dir }));

  const logs = () => bmcs.map((b) => `--- ${b.node.name}\n${b.daemon.output().split('\n').slice(-40).join('\n')}`).join('\n');
  const reaches = (of: RackBmc, peer: RackBmc, status: string, since: number, what: string) =>
    expectPeerStatus({ of, peer, status, since, what, timeoutMs: STEP_MS, logs });

  it('self-provision → LLDP discovery → ProvisionPeer → Connected; kill/restart, link down/up and 20 % loss', async () => {
    rack = await createRack({ size: 2 });
    bmcs = await startRackBmcs(rack, dir, buses);
    const [a, b] = bmcs;
    assert.ok(a && b);

    let since = Date.now();
    for (const bmc of bmcs) await provisionPeer(bmc, 'self');
    // LLDP discovery: each BMC gets a per-peer object for the other, which it dials. Without trust
    // the handshake is refused, and the object says so.
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const refused = await x.recorder.waitFor((c) => c.peer === y.node.name && (c.lastFailure ?? '').startsWith('LINK_REJECTED'), {
        since,
        timeoutMs: STEP_MS,
      });
      assert.ok(refused, `${x.node.name} discovered ${y.node.name} and was refused without trust\n${logs()}`);
    }

    since = Date.now();
    placeTrust(a, b);
    placeTrust(b, a);
    // ProvisionPeer(peer) with no attestationd in the rack: attestation fails, and the trust placed
    // by hand is what admits the link. Both sides end Connected.
    await provisionPeer(a, b.node.name);
    await provisionPeer(b, a.node.name);
    await reaches(a, b, 'Connected', since, 'after ProvisionPeer');
    await reaches(b, a, 'Connected', since, 'after ProvisionPeer');
    assert.equal(await getProperty(a.bus, 'peerConnected'), `${STATUS}.Connected`, 'the aggregate agrees');

    // Kill bmc-2's daemon: bmc-1's object for it goes NotConnected; after a restart both are Connected.
    since = Date.now();
    b.daemon.kill('SIGKILL');
    await b.daemon.exited();
    await reaches(a, b, 'NotConnected', since, 'after bmc-2 was killed');
    since = Date.now();
    b.daemon = await startRackDaemon(rack, b);
    await reaches(a, b, 'Connected', since, 'after bmc-2 restarted');
    await reaches(b, a, 'Connected', since, 'bmc-2 after its restart');

    // Cable pulled on bmc-2: both sides NotConnected; plugged back: Connected again.
    since = Date.now();
    await rack.linkDown(b.node);
    await reaches(a, b, 'NotConnected', since, 'link down');
    await reaches(b, a, 'NotConnected', since, 'link down (bmc-2 side)');
    since = Date.now();
    await rack.linkUp(b.node);
    await reaches(a, b, 'Connected', since, 'link up');
    await reaches(b, a, 'Connected', since, 'link up (bmc-2 side)');

    // 20 % packet loss on bmc-2's link: the link stays up or comes back within the window.
    const method = await rack.loss(b.node, 20);
    try {
      const lossStart = Date.now();
      await new Promise((r) => setTimeout(r, 8000));
      const settled = await a.recorder.waitFor(() => a.recorder.statusOf(b.node.name) === 'Connected' && b.recorder.statusOf(a.node.name) === 'Connected', {
        since: 0,
        timeoutMs: STEP_MS,
      });
      const drops = a.recorder.changes.filter((c) => c.at >= lossStart && c.peer === b.node.name && c.status === 'NotConnected').length;
      process.stdout.write(`# 20 % loss by ${method}: bmc-1 saw ${drops} drop(s) of its link to bmc-2 in 8 s\n`);
      assert.ok(settled, `under 20 % loss (${method}) the link is Connected within the window\n${logs()}`);
    } finally {
      await rack.clearLoss(b.node);
    }
  });
});
