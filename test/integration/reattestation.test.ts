/**
 * Continuous attestation between two BMCs (provisioningd + attestationd each, private buses, no CA
 * placed by hand), re-attesting every 2 s: passes change nothing visible but lastAttested; a new
 * value approved in the manifests first is no failure; a measured file changed to a value no
 * manifest accepts revokes the peer (trust store, both links, per-peer object, signal); restoring it
 * and ProvisionPeer bring it back. A peer that renews its leaf and dials again is re-attested at once,
 * while our own link to it never dropped. A peer our own link to cannot come up (it still dials us)
 * is re-attested on the interval all the same, and revoked when its measurements change. A
 * ProvisionPeer of a peer attested before, our link to it down, keeps its trust and its dials when
 * the attestation cannot run, and revokes it on a verdict against it. After our own restart, a peer
 * trusted from before is re-attested soon, though our link to it never comes up.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { peerObjectPath } from '../../src/dbus/peer-objects.ts';
import { writeFileAtomic } from '../../src/util/atomic-file.ts';
import { startAttestationd } from '../harness/attestationd.ts';
import { measuredConf, pairOutput, startAttestedPair, writePairManifests, type PairBmc } from '../harness/attested-pair.ts';
import { useBusFixture, type BusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, freePort, IFACE, OBJECT, SERVICE, STATUS } from '../harness/daemon.ts';
import { getMetricsPath, metricSample } from '../harness/metrics-scrape.ts';
import { peerProperty } from '../harness/peer-property.ts';
import { recordPeerStatus, type PeerStatusRecorder } from '../harness/peer-status-recorder.ts';

const LINK_CONFIG = { keepalive_interval: 0.5, keepalive_timeout: 1, idle_timeout: 3, handshake_timeout: 2, retry_base: 0.2, retry_timer: 1 };
const REATTEST_S = 2;
const DEADLINE_MS = 60_000;
const CONNECTED = `${STATUS}.Connected`;

const attestedCaFiles = (b: PairBmc) => {
  const dir = join(b.dir, 'state', 'trust');
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.pem')) : [];
};

const stateFile = (b: PairBmc) => join(b.dir, 'state', 'state.json');
/** bmc-b's attestation record in `b`'s state file. */
const persistedPeer = (b: PairBmc): { lastAttestedMs?: number; verdict?: string } | undefined =>
  (JSON.parse(readFileSync(stateFile(b), 'utf8')) as { version: number; peers?: Record<string, { lastAttestedMs?: number; verdict?: string }> }).peers?.['bmc-b'];

/** Waits for `n` re-attestations of `peer` that passed (lastAttested moved), recorded after `since`. */
async function passes(rec: PeerStatusRecorder, peer: string, since: number, n: number): Promise<boolean> {
  const hit = await rec.waitFor((c) => c.peer === peer && c.lastAttested !== undefined && rec.changes.filter((x) => x.at >= since && x.peer === peer && x.lastAttested !== undefined).length >= n, {
    since,
    timeoutMs: DEADLINE_MS,
  });
  return hit !== undefined;
}

/** bmc-b's object on bmc-a. */
const bOnA = peerObjectPath('bmc-b');

/**
 * bmc-a and bmc-b started (`config` and `perBmc` on top of the pair's own keys and LINK_CONFIG),
 * bmc-a recording its peer objects, and asked to ProvisionPeer bmc-b.
 */
async function provisionedPair(fixture: BusFixture, config: Record<string, unknown>, perBmc?: Parameters<typeof startAttestedPair>[3]) {
  const [a, b] = await startAttestedPair(fixture, { attestation_timeout: 30, ...LINK_CONFIG, ...config }, DEADLINE_MS, perBmc);
  const recA = await recordPeerStatus(a.bus);
  fixture.cleanup(() => recA.close());
  const r = await busctl(a.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-b');
  assert.equal(r.code, 0, r.stderr);
  return { a, b, recA, output: () => pairOutput([a, b]) };
}

/** provisioning_reattestations_total{verdict} of the daemon whose metrics listen on `port` (-1: absent). */
const reattestationsCounted = async (port: number, verdict: string) =>
  metricSample((await getMetricsPath(port, '/metrics')).text, `provisioning_reattestations_total{verdict="${verdict}"}`) ?? -1;

/** The statuses other than Connected that `peer` had after `since` (signals and lastAttested left out). */
const dropsSince = (rec: PeerStatusRecorder, peer: string, since: number) =>
  rec.statusChanges().filter((c) => c.peer === peer && c.at >= since && c.status !== 'Connected').map((c) => c.status);

describe('continuous attestation between two BMCs', () => {
  const fixture = useBusFixture();

  it('re-attests on the interval without touching the link, survives an approved update, revokes a tampered peer, and takes it back after ProvisionPeer', async () => {
    const metricsPort = await freePort();
    const { a, b, recA, output } = await provisionedPair(fixture, { reattest_interval_s: REATTEST_S }, (name) => (name === 'bmc-a' ? { metrics_port: metricsPort } : {}));
    const reattestations = (verdict: string) => reattestationsCounted(metricsPort, verdict);
    const connected = async () => {
      for (const self of [a, b]) {
        const path = peerObjectPath(self === a ? 'bmc-b' : 'bmc-a');
        assert.ok(await eventually(async () => (await peerProperty(self.bus, path, 'peerConnected')) === CONNECTED, DEADLINE_MS, 100), `${self.name} Connected\n${output()}`);
      }
    };
    await connected();

    // 1. Passes: lastAttested moves, the link never leaves Connected.
    const up = Date.now();
    assert.ok(await passes(recA, 'bmc-b', up, 2), `bmc-a re-attested bmc-b twice\n${output()}`);
    assert.deepEqual(dropsSince(recA, 'bmc-b', up), [], 'bmc-b never left Connected while it was re-attested');
    const lastAttested = BigInt((await peerProperty(a.bus, bOnA, 'lastAttested')) ?? '0');
    assert.ok(lastAttested > BigInt(up - 60_000) * 1000n && lastAttested <= BigInt(Date.now()) * 1000n, `lastAttested is a time in µs: ${lastAttested}`);
    assert.equal(await peerProperty(a.bus, bOnA, 'attestationStale'), 'false');
    // The last attestation is persisted with the flag, atomically (state.json, version 2).
    assert.ok(
      await eventually(() => persistedPeer(a)?.verdict === 'passed' && (persistedPeer(a)?.lastAttestedMs ?? 0) >= up - 60_000, DEADLINE_MS, 100),
      `state.json of bmc-a records bmc-b's last pass: ${readFileSync(stateFile(a), 'utf8')}`,
    );
    assert.match(a.daemon?.output() ?? '', /re-attested bmc-b .*same CA, measurements accepted/);

    // 2. A firmware/config update done in the documented order: approve the new value in every
    //    manifest, then change the file. No revocation.
    const next = join(b.dir, 'provisioning.conf.next');
    writeFileSync(next, `${readFileSync(measuredConf(b), 'utf8')}\n`);
    writePairManifests([a, b], [next]);
    const updated = Date.now();
    // Replaced in one rename, as an update installs a file: a read in the middle of a copy would
    // measure a truncated file, which no manifest accepts (a revocation the test did not ask for).
    await writeFileAtomic({ path: measuredConf(b), data: readFileSync(next), mode: 0o644 });
    assert.ok(await passes(recA, 'bmc-b', updated, 2), `bmc-a re-attested the updated bmc-b\n${output()}`);
    assert.deepEqual(dropsSince(recA, 'bmc-b', up), [], 'the approved update dropped nothing');
    assert.equal(recA.changes.filter((c) => c.revoked !== undefined).length, 0);

    // 3. Tampering: bmc-b's measured file gets a value no manifest accepts.
    const tampered = Date.now();
    appendFileSync(measuredConf(b), '\n');
    const revoked = await recA.waitFor((c) => c.peer === 'bmc-b' && c.revoked !== undefined, { since: tampered, timeoutMs: DEADLINE_MS });
    assert.ok(revoked, `AttestationRevoked for bmc-b on bmc-a\n${output()}`);
    assert.match(revoked.revoked ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2 \(provisioning\.conf\)/);
    assert.ok(
      (await recA.waitFor((c) => c.peer === 'bmc-b' && c.status === 'NotConnected' && c.revoked === undefined && c.lastAttested === undefined, { since: tampered, timeoutMs: DEADLINE_MS })) !== undefined,
      `bmc-b NotConnected on bmc-a: both links closed\n${output()}`,
    );
    assert.equal(await peerProperty(a.bus, bOnA, 'attested'), 'false');
    assert.match((await peerProperty(a.bus, bOnA, 'lastFailure')) ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2/);
    // The revocation is in effect at once (attested false above); the file leaves the trust store as its own step.
    assert.ok(await eventually(() => attestedCaFiles(a).length === 0, DEADLINE_MS, 50), `bmc-b's CA left bmc-a's trust store: ${attestedCaFiles(a).join(' ')}\n${output()}`);
    assert.ok(await eventually(() => persistedPeer(a)?.verdict === 'revoked', DEADLINE_MS, 100), `state.json records the revocation: ${readFileSync(stateFile(a), 'utf8')}`);
    assert.match(a.daemon?.output() ?? '', /closing the inbound link of bmc-b: /, "bmc-a dropped bmc-b's inbound link");
    // Refused until ProvisionPeer: it stays down over several intervals (bmc-b keeps dialling).
    assert.equal(await eventually(async () => (await peerProperty(a.bus, bOnA, 'peerConnected')) === CONNECTED, 3 * REATTEST_S * 1000, 200), false, 'bmc-b stays refused');

    assert.equal(await reattestations('rejected'), 1, 'the metrics count the one rejected re-attestation');
    assert.ok((await reattestations('passed')) >= 4, 'and the passes before it');

    // 4. ProvisionPeer while bmc-b is still tampered: the verdict goes against it again, and it stays
    //    revoked (not dialled, no CA installed), lastFailure saying why.
    const still = await busctl(a.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-b');
    assert.equal(still.code, 0, still.stderr);
    assert.ok(await a.daemon?.waitForOutput(/(?<!re-)attestation of bmc-b failed: MEASUREMENT_MISMATCH/, DEADLINE_MS), `bmc-a's attestation of the tampered bmc-b failed\n${output()}`);
    assert.ok(
      await eventually(async () => /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2/.test((await peerProperty(a.bus, bOnA, 'lastFailure')) ?? ''), DEADLINE_MS, 100),
      `lastFailure keeps the verdict\n${output()}`,
    );
    assert.equal(await eventually(async () => (await peerProperty(a.bus, bOnA, 'peerConnected')) === CONNECTED, 3 * REATTEST_S * 1000, 200), false, 'bmc-b stays refused after a failed ProvisionPeer');
    assert.equal(await peerProperty(a.bus, bOnA, 'attested'), 'false');
    assert.match((await peerProperty(a.bus, bOnA, 'lastFailure')) ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2/, 'not overwritten by a refused link');
    assert.deepEqual(attestedCaFiles(a), [], 'no CA installed for it');
    assert.equal(persistedPeer(a)?.verdict, 'revoked');

    // 5. Restore the approved value, ProvisionPeer: trusted and Connected again.
    await writeFileAtomic({ path: measuredConf(b), data: readFileSync(next), mode: 0o644 });
    const again = await busctl(a.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-b');
    assert.equal(again.code, 0, again.stderr);
    await connected();
    assert.equal(await peerProperty(a.bus, bOnA, 'attested'), 'true');
    assert.equal(await peerProperty(a.bus, bOnA, 'lastFailure'), '');
    assert.equal(attestedCaFiles(a).length, 1);
  });
});

describe('re-attestation on a renewed leaf seen inbound', () => {
  // A bus fixture of its own: the pair above still owns the names on the other one.
  const fixture = useBusFixture();

  it('re-attests a peer at once when it dials in with a renewed leaf, while our own link to it stays up', async () => {
    // An interval far beyond the test: only the new leaf can make bmc-a re-attest bmc-b here.
    const { a, b, recA, output } = await provisionedPair(fixture, { reattest_interval_s: 3600 });
    for (const [self, path] of [[a, peerObjectPath('bmc-b')], [b, peerObjectPath('bmc-a')]] as const) {
      assert.ok(await eventually(async () => (await peerProperty(self.bus, path, 'peerConnected')) === CONNECTED, DEADLINE_MS, 100), `${self.name} Connected\n${output()}`);
    }
    // peerConnected counts inbound links too: wait for each one's own link, so that bmc-a has noted bmc-b's leaf.
    for (const [self, peer] of [[a, 'bmc-b'], [b, 'bmc-a']] as const) {
      assert.ok(await self.daemon?.waitForOutput(new RegExp(`info +link up peer=${peer} `), DEADLINE_MS), `${self.name}'s link to ${peer} is up\n${output()}`);
    }
    const renewedAt = Date.now();
    // bmc-b renews its leaf (ProvisionPeer("self") while provisioned); established links keep the old one.
    const renewal = await busctl(b.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(renewal.code, 0, renewal.stderr);
    // bmc-b's own link to bmc-a drops (its socket destroyed in the kernel): it dials again, with the renewed leaf.
    const killed = spawnSync('ss', ['-K', 'dst', '127.0.0.1', 'dport', '=', `:${a.port}`], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(killed.status, 0, killed.stderr);
    assert.ok(await b.daemon?.waitForOutput(/link down/, DEADLINE_MS), `bmc-b saw its link to bmc-a drop\n${output()}`);
    assert.ok(await a.daemon?.waitForOutput(/bmc-b presents another leaf on its inbound link/, DEADLINE_MS), `bmc-a saw the new leaf inbound\n${output()}`);
    assert.ok(await passes(recA, 'bmc-b', renewedAt, 1), `bmc-a re-attested bmc-b long before the interval\n${output()}`);
    assert.deepEqual(dropsSince(recA, 'bmc-b', renewedAt), [], "bmc-a's own link to bmc-b never dropped");
    // The log line reaches the pipe a little after the property changed on the bus: waited for.
    assert.ok(await a.daemon?.waitForOutput(/re-attested bmc-b .*same CA, measurements accepted/, DEADLINE_MS), `the log says so\n${output()}`);
  });
});

describe('re-attestation of a peer our own link to is down', () => {
  // A bus fixture of its own: the pairs above still own the names on theirs.
  const fixture = useBusFixture();

  it('re-attests it on the interval while our dials to it fail (it still dials us), and revokes it when its measurements change', async () => {
    // bmc-a knows bmc-b at a port nothing listens on: every dial of bmc-a's fails, bmc-b's SPDM
    // responder is reachable, and bmc-b dials bmc-a as usual.
    const deadPort = await freePort();
    const metricsPort = await freePort();
    const { a, b, recA, output } = await provisionedPair(fixture, { reattest_interval_s: REATTEST_S }, (name, peer) =>
      name === 'bmc-a' ? { metrics_port: metricsPort, peers: [{ name: peer.name, address: '127.0.0.1', port: deadPort, spdm_port: peer.att.spdmPort }] } : {},
    );
    assert.ok(await eventually(async () => (await peerProperty(a.bus, bOnA, 'attested')) === 'true', DEADLINE_MS, 100), `bmc-a attested bmc-b\n${output()}`);
    // bmc-b attests bmc-a back and dials it: bmc-a has an inbound link from bmc-b, and none of its own.
    assert.ok(await b.daemon?.waitForOutput(/info +link up peer=bmc-a /, DEADLINE_MS), `bmc-b's link to bmc-a is up\n${output()}`);
    assert.ok(await a.daemon?.waitForOutput(new RegExp(`link attempt failed \\(127\\.0\\.0\\.1:${deadPort}\\)`), DEADLINE_MS), `bmc-a's dials to bmc-b fail\n${output()}`);

    // 1. On the interval alone (no link of ours came back, no new leaf): lastAttested moves.
    const down = Date.now();
    assert.ok(await passes(recA, 'bmc-b', down, 2), `bmc-a re-attested bmc-b twice while its link to it was down\n${output()}`);
    assert.equal(await peerProperty(a.bus, bOnA, 'attestationStale'), 'false');
    assert.equal(await peerProperty(a.bus, bOnA, 'attested'), 'true');
    assert.doesNotMatch(a.daemon?.output() ?? '', /info +link up peer=bmc-b /, "bmc-a's own link to bmc-b never came up");
    assert.ok((await reattestationsCounted(metricsPort, 'passed')) >= 2, 'the metrics count the passes between dials');

    // 2. bmc-b's measured file gets a value no manifest accepts: the interval detects it, bmc-a revokes.
    const tampered = Date.now();
    appendFileSync(measuredConf(b), '\n');
    const revoked = await recA.waitFor((c) => c.peer === 'bmc-b' && c.revoked !== undefined, { since: tampered, timeoutMs: DEADLINE_MS });
    assert.ok(revoked, `AttestationRevoked for bmc-b on bmc-a\n${output()}`);
    assert.match(revoked.revoked ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2 \(provisioning\.conf\)/);
    assert.equal(await peerProperty(a.bus, bOnA, 'attested'), 'false');
    assert.match((await peerProperty(a.bus, bOnA, 'lastFailure')) ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2/);
    // The revocation is in effect at once (attested false above); the file leaves the trust store as its own step.
    assert.ok(await eventually(() => attestedCaFiles(a).length === 0, DEADLINE_MS, 50), `bmc-b's CA left bmc-a's trust store: ${attestedCaFiles(a).join(' ')}\n${output()}`);
    assert.ok(await a.daemon?.waitForOutput(/closing the inbound link of bmc-b: /, DEADLINE_MS), `bmc-a dropped bmc-b's inbound link\n${output()}`);
    assert.ok(
      await eventually(async () => (await peerProperty(a.bus, bOnA, 'peerConnected')) === `${STATUS}.NotConnected`, DEADLINE_MS, 100),
      `bmc-b NotConnected on bmc-a: its inbound link closed, ours down\n${output()}`,
    );
    assert.equal(await reattestationsCounted(metricsPort, 'rejected'), 1, 'the metrics count the one rejected re-attestation');
  });
});

describe('ProvisionPeer of a peer attested before, our own link to it down', () => {
  const fixture = useBusFixture();

  it('keeps its trust and goes on dialling it when the attestation cannot run, and revokes it on a verdict against it', async () => {
    // Periodic re-attestation off: only ProvisionPeer attests. bmc-a's dials to bmc-b fail (nothing
    // listens at the port it knows for it); bmc-b's SPDM responder answers, and bmc-b dials bmc-a.
    // bmc-b is in bmc-a's `peers`; the same failure of an LLDP neighbour's attestation is the peer
    // model test's ("ProvisionPeer on a peer attested before, our link to it down").
    const deadPort = await freePort();
    const { a, b, recA, output } = await provisionedPair(fixture, { reattest_interval_s: 0 }, (name, peer) =>
      name === 'bmc-a' ? { peers: [{ name: peer.name, address: '127.0.0.1', port: deadPort, spdm_port: peer.att.spdmPort }] } : {},
    );
    assert.ok(await eventually(async () => (await peerProperty(a.bus, bOnA, 'attested')) === 'true', DEADLINE_MS, 100), `bmc-a attested bmc-b\n${output()}`);
    assert.ok(await b.daemon?.waitForOutput(/info +link up peer=bmc-a /, DEADLINE_MS), `bmc-b's link to bmc-a is up\n${output()}`);
    const dialFailed = new RegExp(`link attempt failed \\(127\\.0\\.0\\.1:${deadPort}\\)`);
    assert.ok(await a.daemon?.waitForOutput(dialFailed, DEADLINE_MS), `bmc-a's dials to bmc-b fail\n${output()}`);

    // 1. bmc-b's SPDM responder is gone: the attestation cannot run. No verdict: bmc-b stays trusted,
    //    and bmc-a goes on dialling it (each failed dial then is its lastFailure).
    await b.attestationd?.stop();
    const r1 = await busctl(a.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-b');
    assert.equal(r1.code, 0, r1.stderr);
    assert.ok(await a.daemon?.waitForOutput(/attestation of bmc-b failed: /, DEADLINE_MS), `bmc-a's attestation of bmc-b failed\n${output()}`);
    const failedAt = a.daemon?.output().length ?? 0;
    assert.equal(await peerProperty(a.bus, bOnA, 'attested'), 'true', 'an attestation that could not run revokes nothing');
    assert.equal(attestedCaFiles(a).length, 1, "bmc-b's CA is still in bmc-a's trust store");
    assert.ok(
      await eventually(async () => dialFailed.test((a.daemon?.output() ?? '').slice(failedAt)), DEADLINE_MS, 100),
      `bmc-a dials bmc-b again after the failed attestation\n${output()}`,
    );
    assert.notEqual(await peerProperty(a.bus, bOnA, 'peerConnected'), `${STATUS}.NotDetermined`, 'bmc-b is not left undetermined');

    // 2. bmc-b's responder back, its measured file changed to a value no manifest accepts:
    //    ProvisionPeer gets attestationd's verdict against it, and bmc-a revokes it.
    b.attestationd = await startAttestationd({ bus: b.bus, setup: b.att });
    fixture.cleanup(() => b.attestationd?.stop());
    appendFileSync(measuredConf(b), '\n');
    const asked = Date.now();
    const r2 = await busctl(a.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-b');
    assert.equal(r2.code, 0, r2.stderr);
    const revoked = await recA.waitFor((c) => c.peer === 'bmc-b' && c.revoked !== undefined, { since: asked, timeoutMs: DEADLINE_MS });
    assert.ok(revoked, `AttestationRevoked for bmc-b on bmc-a\n${output()}`);
    assert.match(revoked.revoked ?? '', /^ATTESTATION_REVOKED: MEASUREMENT_MISMATCH: measurement 2 \(provisioning\.conf\)/);
    assert.equal(await peerProperty(a.bus, bOnA, 'attested'), 'false');
    // The revocation is in effect at once (attested false above); the file leaves the trust store as its own step.
    assert.ok(await eventually(() => attestedCaFiles(a).length === 0, DEADLINE_MS, 50), `bmc-b's CA left bmc-a's trust store: ${attestedCaFiles(a).join(' ')}\n${output()}`);
    assert.ok(await a.daemon?.waitForOutput(/closing the inbound link of bmc-b: /, DEADLINE_MS), `bmc-a dropped bmc-b's inbound link\n${output()}`);
  });
});

describe('re-attestation after our own restart, our own link to the peer down', () => {
  const fixture = useBusFixture();

  it('re-attests a peer trusted from before the restart soon after it, though our link to it never comes up and the interval is an hour', async () => {
    // bmc-a's dials to bmc-b fail (nothing listens at the port it knows for it); bmc-b's SPDM
    // responder answers. The interval (3600 s) is far beyond the test: only the restart rule acts.
    const deadPort = await freePort();
    const { a, output } = await provisionedPair(fixture, { reattest_interval_s: 3600 }, (name, peer) =>
      name === 'bmc-a' ? { peers: [{ name: peer.name, address: '127.0.0.1', port: deadPort, spdm_port: peer.att.spdmPort }] } : {},
    );
    assert.ok(await eventually(async () => (await peerProperty(a.bus, bOnA, 'attested')) === 'true', DEADLINE_MS, 100), `bmc-a attested bmc-b\n${output()}`);
    assert.ok(await eventually(() => persistedPeer(a)?.verdict === 'passed', DEADLINE_MS, 100), `bmc-a persisted the attestation\n${output()}`);
    const before = Number(await peerProperty(a.bus, bOnA, 'lastAttested'));
    assert.ok(before > 0, `lastAttested set: ${before}`);

    // bmc-a restarts on the same directories: bmc-b is trusted from before (its CA bound in the trust store).
    const old = a.daemon;
    assert.ok(old);
    await old.stop();
    a.daemon = await fixture.startDaemon({ bus: a.bus, dir: old.dir, config: old.config });
    assert.ok(await eventually(async () => (await peerProperty(a.bus, bOnA, 'attested')) === 'true', DEADLINE_MS, 100), `still trusted after the restart\n${output()}`);
    assert.ok(
      await eventually(async () => Number(await peerProperty(a.bus, bOnA, 'lastAttested')) > before, DEADLINE_MS, 200),
      `bmc-a re-attested bmc-b after its restart\n${output()}`,
    );
    assert.ok(await a.daemon.waitForOutput(/re-attested bmc-b .*same CA/, DEADLINE_MS), `the log says so\n${output()}`);
    assert.doesNotMatch(a.daemon.output(), /info +link up peer=bmc-b /, "bmc-a's own link to bmc-b never came up");
  });
});
