/**
 * Continuous attestation in a rack: three whole BMCs in network namespaces (own bus, lldpd, lldp
 * bridge, attestationd, provisioningd), trust only through attestation, each re-attesting every
 * peer it trusts every 2 s. A file bmc-3's attestationd measures changes to a value no manifest
 * accepts → bmc-1 and bmc-2 each revoke bmc-3 and drop their links to it, while bmc-1 ↔ bmc-2 never
 * drops; its cable pulled until its LLDP entry expires and plugged back → it attests them again, and
 * stays revoked (not attested back, the verdict kept on D-Bus and in state.json); restored +
 * ProvisionPeer → back. bmc-3 restarted unchanged → no revocation. A new value
 * approved in every manifest first, then the file changed → no revocation. bmc-3's leaves renewed →
 * re-attested, still trusted. Every wait has a deadline; nothing here measures time.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { writeFileAtomic } from '../../src/util/atomic-file.ts';
import { busctl, eventually } from '../harness/daemon.ts';
import { provisioningConf, useAttestedRack, writeRackManifest } from '../harness/netns-attestationd.ts';
import {
  isLinkUpState,
  ownLinkState,
  peerProperty,
  provisionPeer,
  RACK_ATTEST_STEP_MS as ATTEST_STEP_MS,
  RACK_LINK_STEP_MS as LINK_STEP_MS,
  startRackDaemon,
  trustedCaFiles,
  type RackBmc,
} from '../harness/netns-bmc.ts';

const LLDP = 'xyz.openbmc_project.LLDP';
const TLVS = 'xyz.openbmc_project.Network.LLDP.TLVs';

/** The SystemNames of the LLDP neighbours `bmc`'s lldp bridge publishes, read with busctl as an operator would. */
async function lldpNeighbourNames(bmc: RackBmc): Promise<string[]> {
  const tree = await busctl(bmc.bus, 'tree', '--list', LLDP);
  const names: string[] = [];
  for (const path of tree.stdout.split('\n').map((l) => l.trim()).filter((l) => l.includes('/receive'))) {
    const r = await busctl(bmc.bus, 'get-property', LLDP, path, TLVS, 'SystemName');
    if (r.code === 0) names.push(JSON.parse(r.stdout.trim().replace(/^s /, '')) as string);
  }
  return names;
}

/** Occurrences of `re` in `text`. */
const count = (text: string, re: RegExp) => text.match(new RegExp(re.source, 'g'))?.length ?? 0;

/** bmc's last attestation record of `peer` in its state file. */
const persistedVerdict = (bmc: RackBmc, peer: RackBmc) =>
  (JSON.parse(readFileSync(join(bmc.dir, 'state', 'state.json'), 'utf8')) as { peers?: Record<string, { verdict?: string }> }).peers?.[peer.node.name]?.verdict;

/** 169.254.84.0/24: the other rack tests use 77–83. */
const SUBNET = 84;
const REATTEST_S = 2;

describe('a rack of three BMCs re-attesting each other: a tampered BMC is revoked by both others, on its own', () => {
  const { start, logs, reaches } = useAttestedRack({ size: 3, subnet: SUBNET, tmpPrefix: 'rack-reattest-', config: { reattest_interval_s: REATTEST_S } });

  it('full mesh attested → bmc-3 tampered: revoked by bmc-1 and bmc-2, links dropped, bmc-1 ↔ bmc-2 untouched → restored + ProvisionPeer: back → restarted: kept → approved update: kept → renewed leaves: kept', async () => {
    const { rack, bmcs, attestationds } = await start();
    const [b1, b2, b3] = bmcs;
    assert.ok(b1 && b2 && b3);
    const others = (x: RackBmc) => bmcs.filter((y) => y !== x);
    const directed = bmcs.flatMap((x) => others(x).map((y) => [x, y] as const));
    /** Statuses other than Connected that `of` showed for `peer` since `since` (signals and lastAttested left out). */
    const drops = (of: RackBmc, peer: RackBmc, since: number) =>
      of.recorder.statusChanges().filter((c) => c.peer === peer.node.name && c.at >= since && c.status !== 'Connected').map((c) => c.status);
    const revocationsSince = (of: RackBmc, since: number) => of.recorder.changes.filter((c) => c.at >= since && c.revoked !== undefined);
    /** Waits until `of` has re-attested `peer` `n` times (its lastAttested moved) since `since`. */
    const reattested = async (of: RackBmc, peer: RackBmc, since: number, n: number, what: string) => {
      const count = () => of.recorder.changes.filter((c) => c.at >= since && c.peer === peer.node.name && c.lastAttested !== undefined).length;
      assert.ok(await eventually(() => count() >= n, ATTEST_STEP_MS, 100), `${what}: ${of.node.name} re-attested ${peer.node.name} ${count()} of ${n} times\n${logs()}`);
    };

    // 1. The attested mesh: one ProvisionPeer per pair, the other side attests back.
    for (const bmc of bmcs) await provisionPeer(bmc, 'self');
    let since = Date.now();
    await provisionPeer(b1, b2.node.name);
    await provisionPeer(b1, b3.node.name);
    await provisionPeer(b2, b3.node.name);
    for (const [x, y] of directed) await reaches(x, y, 'Connected', since, `${x.node.name}'s object for ${y.node.name}`, ATTEST_STEP_MS);
    for (const [x, y] of directed) {
      assert.ok(await eventually(() => isLinkUpState(ownLinkState(x, y)), LINK_STEP_MS, 100), `${x.node.name}'s own link to ${y.node.name} is up\n${logs()}`);
    }
    const meshUp = Date.now();
    for (const [x, y] of directed) await reattested(x, y, meshUp, 1, 'the mesh re-attests on the interval');
    for (const [x, y] of directed) assert.deepEqual(drops(x, y, meshUp), [], `${x.node.name} kept ${y.node.name} Connected while re-attesting it`);

    // 2. A file bmc-3's attestationd measures changes to a value no manifest accepts.
    const original = readFileSync(provisioningConf(b3), 'utf8');
    const tampered = Date.now();
    appendFileSync(provisioningConf(b3), '\n');
    for (const x of [b1, b2]) {
      const revoked = await x.recorder.waitFor((c) => c.peer === b3.node.name && c.revoked !== undefined, { since: tampered, timeoutMs: ATTEST_STEP_MS });
      assert.ok(revoked, `${x.node.name} signalled AttestationRevoked for bmc-3\n${logs()}`);
      assert.match(revoked.revoked ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2 \(provisioning\.conf\)/);
      await reaches(x, b3, 'NotConnected', tampered, `${x.node.name}: both links with the revoked bmc-3 closed`);
      assert.equal(await peerProperty(x, b3, 'attested'), 'b false');
      assert.match(await peerProperty(x, b3, 'lastFailure'), /^s "ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2/);
      // The revocation is in effect at once; the CA file leaves the trust store as its own step.
      assert.ok(await eventually(() => trustedCaFiles(x).length === 1, ATTEST_STEP_MS, 50), `${x.node.name} trusts only the other healthy BMC now: ${trustedCaFiles(x).join(' ')}`);
    }
    for (const [x, y] of [
      [b1, b2],
      [b2, b1],
    ] as const) {
      assert.deepEqual(drops(x, y, meshUp), [], `${x.node.name}'s object for ${y.node.name} never left Connected`);
      assert.equal(await peerProperty(x, y, 'attested'), 'b true');
    }
    // Refused until ProvisionPeer: bmc-3 keeps dialling and attesting, and stays out.
    assert.equal(await eventually(async () => (await peerProperty(b1, b3, 'attested')) === 'b true', 3 * REATTEST_S * 1000, 200), false, 'bmc-3 stays revoked');

    // 2b. bmc-3's cable pulled until its LLDP entry expired on bmc-1 (as in a reboot), then plugged
    //     back: LLDP announces it again and it attests bmc-1 again, but it stays revoked.
    const attestingB3 = new RegExp(`(?<!re-)attesting ${b3.node.name} `);
    const attestationsOfB3 = count(b1.daemon.output(), attestingB3);
    await rack.linkDown(b3.node);
    assert.ok(await eventually(async () => !(await lldpNeighbourNames(b1)).includes(b3.node.name), LINK_STEP_MS, 200), `bmc-3's LLDP entry expired on bmc-1\n${logs()}`);
    const attestedByB3 = new RegExp(`attested by ${b3.node.address.replace(/\./g, '\\.')} \\(${b3.node.name}\\)`);
    const attestedByB3Before = count(b1.daemon.output(), attestedByB3);
    await rack.linkUp(b3.node);
    assert.ok(
      await eventually(() => count(b1.daemon.output(), attestedByB3) > attestedByB3Before, ATTEST_STEP_MS, 200),
      `bmc-3, announced by LLDP again, attested bmc-1 again\n${logs()}`,
    );
    assert.equal(count(b1.daemon.output(), attestingB3), attestationsOfB3, 'bmc-1 did not attest the revoked bmc-3 back');
    assert.equal(await peerProperty(b1, b3, 'attested'), 'b false');
    assert.match(await peerProperty(b1, b3, 'lastFailure'), /^s "ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2/, 'the revocation is still shown');
    assert.equal(persistedVerdict(b1, b3), 'revoked', "bmc-1's state.json still records the revocation");

    // 3. Restored, and ProvisionPeer on each BMC that revoked it: trusted and Connected again.
    await writeFileAtomic({ path: provisioningConf(b3), data: original, mode: 0o644 });
    since = Date.now();
    await provisionPeer(b1, b3.node.name);
    await provisionPeer(b2, b3.node.name);
    for (const [x, y] of directed) {
      if (x === b3 || y === b3) await reaches(x, y, 'Connected', since, `${x.node.name}'s object for ${y.node.name} after the restore and ProvisionPeer`, ATTEST_STEP_MS);
    }
    for (const x of [b1, b2]) assert.equal(await peerProperty(x, b3, 'attested'), 'b true', `${x.node.name} trusts bmc-3 again`);

    // 4. bmc-3 restarted unchanged: its links drop and come back, it is re-attested, nobody revokes.
    const restarted = Date.now();
    b3.daemon.kill('SIGKILL');
    await b3.daemon.exited();
    b3.daemon = await startRackDaemon(rack, b3);
    for (const [x, y] of directed) {
      if (x === b3 || y === b3) await reaches(x, y, 'Connected', restarted, `${x.node.name}'s object for ${y.node.name} after bmc-3 restarted`, ATTEST_STEP_MS);
    }
    for (const x of [b1, b2]) await reattested(x, b3, restarted, 2, 'after bmc-3 restarted');
    for (const y of [b1, b2]) assert.ok(await b3.daemon.waitForOutput(new RegExp(`re-attested ${y.node.name} .*same CA`), ATTEST_STEP_MS), `the restarted bmc-3 re-attested ${y.node.name}\n${logs()}`);
    for (const x of bmcs) assert.deepEqual(revocationsSince(x, restarted), [], `${x.node.name} revoked nobody after the restart`);

    // 5. A new value approved in every manifest first, then the file changed: no revocation.
    const next = join(b3.dir, 'provisioning.conf.next');
    writeFileSync(next, `${original}\n`);
    for (const att of attestationds) writeRackManifest(att.setup, bmcs, [next]);
    const updated = Date.now();
    // Replaced in one rename, as an update installs a file: a read in the middle of a copy would
    // measure a truncated file, which no manifest accepts (a revocation the test did not ask for).
    await writeFileAtomic({ path: provisioningConf(b3), data: readFileSync(next), mode: 0o644 });
    for (const x of [b1, b2]) await reattested(x, b3, updated, 2, 'after the approved update');
    for (const x of [b1, b2]) assert.deepEqual(drops(x, b3, updated), [], `${x.node.name} kept bmc-3 Connected through the approved update`);
    for (const x of bmcs) assert.deepEqual(revocationsSince(x, updated), [], `${x.node.name} revoked nobody after the approved update`);

    // 6. bmc-3 renews its leaves: re-attested, still trusted.
    const leafFile = certPaths(String(b3.config['cert_root'])).serverChain;
    const oldLeaf = readFileSync(leafFile, 'utf8');
    const renewed = Date.now();
    await provisionPeer(b3, 'self');
    assert.ok(await eventually(() => readFileSync(leafFile, 'utf8') !== oldLeaf, LINK_STEP_MS, 100), 'bmc-3 wrote new leaves');
    for (const x of [b1, b2]) await reattested(x, b3, renewed, 2, 'after bmc-3 renewed its leaves');
    for (const x of [b1, b2]) {
      assert.equal(await peerProperty(x, b3, 'attested'), 'b true', `${x.node.name} still trusts bmc-3 after its renewal`);
      assert.deepEqual(revocationsSince(x, renewed), [], `${x.node.name} revoked nobody after bmc-3's renewal`);
    }
    for (const [x, y] of [
      [b1, b2],
      [b2, b1],
    ] as const) {
      assert.deepEqual(drops(x, y, meshUp), [], `${x.node.name}'s object for ${y.node.name} never left Connected, start to end`);
    }
  });
});
