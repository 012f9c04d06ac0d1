/**
 * The "many peers" promise on real networks: three whole BMCs as network namespaces on one Linux
 * bridge, each with its own bus, lldpd + lldp bridge, software token, attestationd and
 * provisioningd, and no CA placed by hand. Each BMC discovers both others by LLDP and keeps one
 * per-peer object for each; trust comes only from attestation, with one ProvisionPeer per pair of
 * BMCs (the other side attests back); then one BMC fails (its provisioningd killed, later its
 * cable pulled) and the operator of each other BMC sees exactly that peer down, with a reason,
 * while the link between the two healthy BMCs never drops and the root `peerConnected` (the
 * highest link) stays Connected. Each BMC's per-peer objects are followed from the bus
 * (PropertiesChanged), so a short-lived state is never missed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { eventually, getProperty, STATUS } from '../harness/daemon.ts';
import { daemonTrustDir } from '../harness/daemon-trust-dir.ts';
import { useAttestedRack } from '../harness/netns-attestationd.ts';
import {
  isLinkUpState,
  ownLinkState,
  trustedCaFiles,
  peerProperty,
  provisionPeer,
  RACK_ATTEST_STEP_MS as ATTEST_STEP_MS,
  RACK_LINK_STEP_MS as LINK_STEP_MS,
  startRackDaemon,
  type RackBmc,
} from '../harness/netns-bmc.ts';

/** 169.254.79.0/24: rack-lldp.test.ts uses 77 and rack.test.ts 78. */
const SUBNET = 79;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const count = (text: string, re: RegExp) => text.match(new RegExp(re.source, 'g'))?.length ?? 0;

describe('a rack of three BMCs on a bridge, trust only through attestation: the operator can tell which peer is down', () => {
  const { start, logs, reaches } = useAttestedRack({ size: 3, subnet: SUBNET, tmpPrefix: 'rack-three-' });
  /** Every status `of` recorded for `peer` at or after `since` (failure-only changes repeat the status held). */
  const statusesSince = (of: RackBmc, peer: RackBmc, since: number) => of.recorder.changes.filter((c) => c.at >= since && c.peer === peer.node.name).map((c) => c.status);

  it('self-provision → each BMC discovers both others → one ProvisionPeer per pair → all six per-peer objects Connected and attested; bmc-3 killed → only bmc-3 is NotConnected on bmc-1 and bmc-2, bmc-1 ↔ bmc-2 never drops → restarted, Connected again without attesting; bmc-3 cable pulled and replugged', async () => {
    const { rack, bmcs } = await start();
    const [b1, b2, b3] = bmcs;
    assert.ok(b1 && b2 && b3);
    const others = (x: RackBmc) => bmcs.filter((y) => y !== x);
    /** The six per-peer objects: each BMC's object for each of the other two. */
    const directed = bmcs.flatMap((x) => others(x).map((y) => [x, y] as const));

    // 1. Self-provisioned, each BMC discovers both others by LLDP and dials them, and nobody trusts anybody.
    let since = Date.now();
    for (const bmc of bmcs) await provisionPeer(bmc, 'self');
    for (const [x, y] of directed) {
      const refused = await x.recorder.waitFor((c) => c.peer === y.node.name && (c.lastFailure ?? '').startsWith('LINK_REJECTED'), { since, timeoutMs: LINK_STEP_MS });
      assert.ok(refused, `${x.node.name} discovered ${y.node.name} and was refused without trust\n${logs()}`);
    }
    for (const x of bmcs) {
      const objects = [...new Set(x.recorder.changes.filter((c) => c.status === 'added').map((c) => c.peer))].sort();
      assert.deepEqual(objects, others(x).map((y) => y.node.name), `${x.node.name} has one per-peer object for each other BMC, none for itself`);
      assert.deepEqual(trustedCaFiles(x), [], `${x.node.name}: no CA was placed by hand`);
    }
    for (const [x, y] of directed) assert.equal(await peerProperty(x, y, 'attested'), 'b false', `${x.node.name} has not attested ${y.node.name} yet`);

    // 2. Trust by attestation only, one ProvisionPeer per pair (the design's minimum: the attested
    // BMC attests back the neighbour at the address that attested it, so each pair needs one call,
    // and a call covers no other pair).
    since = Date.now();
    await provisionPeer(b1, b2.node.name);
    await provisionPeer(b1, b3.node.name);
    await provisionPeer(b2, b3.node.name);
    for (const [x, y] of directed) await reaches(x, y, 'Connected', since, `${x.node.name}'s object for ${y.node.name} after one ProvisionPeer per pair`, ATTEST_STEP_MS);
    for (const [x, y] of directed) {
      assert.equal(await peerProperty(x, y, 'attested'), 'b true', `${x.node.name} attested ${y.node.name}`);
      assert.equal(await peerProperty(x, y, 'peerConnected'), `s "${STATUS}.Connected"`, `${x.node.name}'s object for ${y.node.name}`);
      // Each directed pair was attested exactly once, by the BMC itself over the bridge.
      const attesting = new RegExp(`(?<!re-)attesting ${escapeRe(y.node.name)} at ${escapeRe(y.node.address)} \\(SPDM port 2323\\)`);
      assert.equal(count(x.daemon.output(), attesting), 1, `${x.node.name} attested ${y.node.name} once\n${logs()}`);
    }
    // The attestations nobody asked for were attest-backs: bmc-2 of bmc-1, bmc-3 of bmc-1 and of bmc-2.
    for (const [x, by] of [
      [b2, b1],
      [b3, b1],
      [b3, b2],
    ] as const) {
      assert.match(x.daemon.output(), new RegExp(`attested by ${escapeRe(by.node.address)} \\(${escapeRe(by.node.name)}\\)`), `${x.node.name} attested ${by.node.name} back`);
    }
    for (const x of bmcs) {
      assert.equal(await getProperty(x.bus, 'peerConnected'), `${STATUS}.Connected`, `${x.node.name}: the aggregate agrees`);
      // Exactly the two other BMCs' CAs, each bound to its own name only.
      const trustDir = daemonTrustDir(x.config);
      const files = trustedCaFiles(x);
      assert.equal(files.length, 2, `${x.node.name}: ${files.join(', ')}`);
      const bound = files
        .map((f) => {
          const text = readFileSync(join(trustDir, f), 'utf8');
          const name = /^Attested-Name: (\S+)\n-----BEGIN CERTIFICATE-----/.exec(text)?.[1];
          assert.ok(name, `${x.node.name}: ${f} is bound to exactly one name:\n${text}`);
          return { name, pem: text.slice(text.indexOf('-----BEGIN')) };
        })
        .sort((p, q) => p.name.localeCompare(q.name));
      assert.deepEqual(
        bound,
        others(x).map((y) => ({ name: y.node.name, pem: `${readFileSync(certPaths(String(y.config['cert_root'])).selfCa, 'utf8').trim()}\n` })),
        `${x.node.name} trusts each other BMC's own CA, bound to that BMC's name`,
      );
    }

    // A per-peer object is Connected as soon as either direction is, and a dial that bmc-2 or bmc-3
    // refused while it did not trust the dialler yet may still be retrying behind it (Connected with
    // a lastFailure). Nothing is broken before every BMC's own link to each peer is up.
    for (const [x, y] of directed) {
      const up = await eventually(() => isLinkUpState(ownLinkState(x, y)), LINK_STEP_MS, 100);
      assert.ok(up, `${x.node.name}'s own link to ${y.node.name} is up (last state ${ownLinkState(x, y)})\n${logs()}`);
    }

    // 3. bmc-3's provisioningd dies: bmc-1 and bmc-2 each show bmc-3 NotConnected with a reason,
    // while their objects for each other never leave Connected and bmc-1's aggregate stays Connected.
    const killed = Date.now();
    b3.daemon.kill('SIGKILL');
    await b3.daemon.exited();
    for (const x of [b1, b2]) {
      await reaches(x, b3, 'NotConnected', killed, `${x.node.name} after bmc-3's provisioningd was killed`);
      assert.match(await peerProperty(x, b3, 'lastFailure'), /^s "LINK_(DOWN|FAILED): .+"$/, `${x.node.name} says why bmc-3 is down`);
      assert.equal(await peerProperty(x, b3, 'attested'), 'b true', `${x.node.name}: bmc-3 is down, not untrusted`);
    }
    assert.equal(await getProperty(b1.bus, 'peerConnected'), `${STATUS}.Connected`, 'bmc-1: the aggregate is the highest link, bmc-2');
    assert.equal(await getProperty(b2.bus, 'peerConnected'), `${STATUS}.Connected`, 'bmc-2: the aggregate is the highest link, bmc-1');
    for (const [x, y] of [
      [b1, b2],
      [b2, b1],
    ] as const) {
      assert.equal(await peerProperty(x, y, 'peerConnected'), `s "${STATUS}.Connected"`, `${x.node.name} still shows ${y.node.name} Connected`);
      assert.equal(await peerProperty(x, y, 'lastFailure'), 's ""', `${x.node.name} shows no failure for ${y.node.name}: ${JSON.stringify(statusesSince(x, y, 0))}\n${logs()}`);
    }
    since = Date.now();
    b3.daemon = await startRackDaemon(rack, b3);
    for (const [x, y] of directed) {
      if (x === b3 || y === b3) await reaches(x, y, 'Connected', since, `${x.node.name}'s object for ${y.node.name} after bmc-3 restarted`);
    }
    for (const [x, y] of [
      [b1, b2],
      [b2, b1],
    ] as const) {
      const timeline = statusesSince(x, y, killed);
      assert.ok(
        timeline.every((s) => s === 'Connected'),
        `${x.node.name}'s object for ${y.node.name} stayed Connected while bmc-3 was down and came back: ${JSON.stringify(timeline)}`,
      );
    }
    // On the attested CAs on disk: no new first attestation by anybody (re-attestations of the
    // peers trusted from before are the continuous attestation: they pass and change nothing).
    assert.doesNotMatch(b3.daemon.output(), /(?<!re-)attesting /, 'the restarted bmc-3 did not attest anybody anew');
    for (const x of [b1, b2]) assert.equal(count(x.daemon.output(), new RegExp(`(?<!re-)attesting ${b3.node.name} `)), 1, `${x.node.name} did not attest bmc-3 anew`);
    for (const x of bmcs) assert.doesNotMatch(x.daemon.output(), /ATTESTATION_REVOKED/, `${x.node.name} revoked nobody`);
    // `attested` follows the trust store: the restarted bmc-3 still trusts, bound to their names,
    // the CAs of the two BMCs it attested.
    for (const y of [b1, b2]) assert.equal(await peerProperty(b3, y, 'attested'), 'b true', `the restarted bmc-3's object for ${y.node.name}`);

    // 4. bmc-3's cable pulled: only bmc-3 is NotConnected on the others (and both are on bmc-3);
    // plugged back: Connected again, bmc-1 ↔ bmc-2 untouched throughout.
    const pulled = Date.now();
    await rack.linkDown(b3.node);
    for (const x of [b1, b2]) {
      await reaches(x, b3, 'NotConnected', pulled, `${x.node.name} after bmc-3's cable was pulled`);
      // A failed link, or (when the LLDP hold time ran out first) the neighbour's departure.
      assert.match(await peerProperty(x, b3, 'lastFailure'), /^s "(LINK_(DOWN|FAILED)|LLDP_GONE): .+"$/, `${x.node.name} says why bmc-3 is down`);
    }
    for (const y of [b1, b2]) await reaches(b3, y, 'NotConnected', pulled, `bmc-3's object for ${y.node.name} with its cable pulled`);
    assert.equal(await getProperty(b1.bus, 'peerConnected'), `${STATUS}.Connected`, 'bmc-1: still Connected to bmc-2');
    since = Date.now();
    await rack.linkUp(b3.node);
    for (const [x, y] of directed) {
      if (x === b3 || y === b3) await reaches(x, y, 'Connected', since, `${x.node.name}'s object for ${y.node.name} after bmc-3's cable was plugged back`);
    }
    for (const [x, y] of [
      [b1, b2],
      [b2, b1],
    ] as const) {
      const timeline = statusesSince(x, y, killed);
      assert.ok(timeline.every((s) => s === 'Connected'), `${x.node.name}'s object for ${y.node.name} stayed Connected since bmc-3 was killed, through its cable pull: ${JSON.stringify(timeline)}`);
    }
  });
});
