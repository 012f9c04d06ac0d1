/**
 * The rack scenario on real networks, with trust only through attestation: two BMCs as network
 * namespaces on a veth pair, each with its own bus, lldpd + lldp bridge, software token,
 * attestationd (its own identity, serving SPDM on its segment address) and provisioningd. No CA is
 * placed by hand. The BMCs find each other by LLDP; one ProvisionPeer(<neighbour>) on bmc-1 has
 * bmc-1 attest bmc-2 over the veth, bmc-2 attests bmc-1 back because it is the neighbour at the
 * address that attested it, and both per-peer objects end Connected and attested. Then, on that
 * attested trust: a killed and restarted daemon, a pulled and replugged cable, and 20 % packet loss.
 * Each BMC's per-peer object for the other is followed from the bus (PropertiesChanged), so a
 * short-lived state is never missed.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { eventually, getProperty, STATUS } from '../harness/daemon.ts';
import { daemonTrustDir } from '../harness/daemon-trust-dir.ts';
import { useAttestedRack } from '../harness/netns-attestationd.ts';
import {
  trustedCaFiles,
  peerProperty,
  provisionPeer,
  RACK_ATTEST_STEP_MS as ATTEST_STEP_MS,
  RACK_LINK_STEP_MS as LINK_STEP_MS,
  startRackDaemon,
} from '../harness/netns-bmc.ts';

describe('a rack of two BMCs in network namespaces, trust only through attestation', () => {
  const { start, logs, reaches } = useAttestedRack({ size: 2, subnet: 78, tmpPrefix: 'rack-att-' });

  it('self-provision → LLDP discovery → ProvisionPeer(bmc-2) on bmc-1 alone → mutual attestation over the veth → Connected and attested on both sides; a restarted daemon reconnects on the attested trust; cable pulled and replugged; 20 % loss', async () => {
    const { rack, bmcs } = await start();
    const [a, b] = bmcs;
    assert.ok(a && b);

    let since = Date.now();
    for (const bmc of bmcs) await provisionPeer(bmc, 'self');
    // Discovered and dialled, but nobody trusts anybody: each side's handshake is refused.
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const refused = await x.recorder.waitFor((c) => c.peer === y.node.name && (c.lastFailure ?? '').startsWith('LINK_REJECTED'), { since, timeoutMs: LINK_STEP_MS });
      assert.ok(refused, `${x.node.name} discovered ${y.node.name} and was refused without trust\n${logs()}`);
    }
    assert.deepEqual([trustedCaFiles(a), trustedCaFiles(b)], [[], []], 'no CA was placed by hand');
    assert.equal(await peerProperty(a, b, 'attested'), 'b false');

    since = Date.now();
    await provisionPeer(a, b.node.name);
    await reaches(a, b, 'Connected', since, 'after ProvisionPeer(bmc-2) on bmc-1', ATTEST_STEP_MS);
    await reaches(b, a, 'Connected', since, 'bmc-2, which nobody asked', ATTEST_STEP_MS);
    for (const bmc of bmcs) assert.equal(await getProperty(bmc.bus, 'peerConnected'), `${STATUS}.Connected`, `${bmc.node.name}: the aggregate agrees`);

    // Each side attested the other itself, over the segment, and trusts the other's CA for its name only.
    for (const [self, peer] of [[a, b], [b, a]] as const) {
      assert.equal(await peerProperty(self, peer, 'attested'), 'b true', `${self.node.name} attested ${peer.node.name}`);
      assert.equal(await peerProperty(self, peer, 'peerConnected'), `s "${STATUS}.Connected"`);
      assert.match(self.daemon.output(), new RegExp(`attesting ${peer.node.name} at ${peer.node.address.replaceAll('.', '\\.')} \\(SPDM port 2323\\)`));
      const files = trustedCaFiles(self);
      assert.equal(files.length, 1, `${self.node.name}: ${files.join(', ')}`);
      const text = readFileSync(join(daemonTrustDir(self.config), files[0] ?? ''), 'utf8');
      assert.match(text, new RegExp(`^Attested-Name: ${peer.node.name}\\n-----BEGIN CERTIFICATE-----`));
      assert.equal(text.slice(text.indexOf('-----BEGIN')), `${readFileSync(certPaths(String(peer.config['cert_root'])).selfCa, 'utf8').trim()}\n`);
    }
    // bmc-2 attested bmc-1 back because bmc-1, its LLDP neighbour at that address, had attested it.
    assert.match(b.daemon.output(), new RegExp(`attested by ${a.node.address.replaceAll('.', '\\.')} \\(${a.node.name}\\)`));

    // The attested CAs are on disk: bmc-2's provisioningd killed and restarted comes back Connected
    // on both sides with no new ProvisionPeer and no new attestation.
    since = Date.now();
    b.daemon.kill('SIGKILL');
    await b.daemon.exited();
    await reaches(a, b, 'NotConnected', since, 'after bmc-2 was killed');
    since = Date.now();
    b.daemon = await startRackDaemon(rack, b);
    await reaches(a, b, 'Connected', since, 'after bmc-2 restarted');
    await reaches(b, a, 'Connected', since, 'bmc-2 after its restart');
    assert.doesNotMatch(b.daemon.output(), /(?<!re-)attesting bmc-1/, 'the restarted bmc-2 did not need to attest again (it re-attests, below)');
    assert.equal(await peerProperty(b, a, 'attested'), 'b true', 'the restarted bmc-2 still says it attested bmc-1 (its CA on disk is bound to bmc-1)');
    assert.ok(
      await b.daemon.waitForOutput(/re-attested bmc-1 .*same CA, measurements accepted/, ATTEST_STEP_MS),
      `the restarted bmc-2 re-attested bmc-1, the peer it trusted from before, and it passed\n${logs()}`,
    );

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
        timeoutMs: LINK_STEP_MS,
      });
      const drops = a.recorder.changes.filter((c) => c.at >= lossStart && c.peer === b.node.name && c.status === 'NotConnected').length;
      process.stdout.write(`# 20 % loss by ${method}: bmc-1 saw ${drops} drop(s) of its link to bmc-2 in 8 s\n`);
      assert.ok(settled, `under 20 % loss (${method}) the link is Connected within the window\n${logs()}`);
    } finally {
      await rack.clearLoss(b.node);
    }

    // The operator deletes bmc-1's attested CA on bmc-2: bmc-2 no longer says it attested bmc-1.
    const [caFile] = trustedCaFiles(b);
    rmSync(join(daemonTrustDir(b.config), caFile ?? ''));
    assert.ok(await eventually(async () => (await peerProperty(b, a, 'attested')) === 'b false', LINK_STEP_MS), 'attested follows the trust store');
    assert.equal(await peerProperty(a, b, 'attested'), 'b true', "bmc-1's own trust in bmc-2 is untouched");
  });
});
