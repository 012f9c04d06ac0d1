/**
 * A re-attestation whose peer's CA binding goes while it runs (the attested CA file deleted from
 * the trust store) ends without a verdict, and nothing changes (docs/attestation.md, "Re-attestation",
 * the verdicts table): the evidence, verified after the binding went, neither makes the peer attested
 * again nor revokes it; the log says so once (REATTESTATION_UNBOUND). Two BMCs with real
 * attestationd; bmc-b's SPDM responder is stopped (SIGSTOP) to hold a re-attestation in flight while
 * the file goes, and continued once bmc-a has seen the binding go.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { peerObjectPath } from '../../src/dbus/peer-objects.ts';
import { pairOutput, startAttestedPair } from '../harness/attested-pair.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, freePort, IFACE, OBJECT, SERVICE } from '../harness/daemon.ts';
import { getMetricsPath, metricSample } from '../harness/metrics-scrape.ts';
import { peerProperty } from '../harness/peer-property.ts';
import { recordPeerStatus } from '../harness/peer-status-recorder.ts';
import { holdsUnreadBytes } from '../harness/socket-queues.ts';

const LINK_CONFIG = { keepalive_interval: 0.5, keepalive_timeout: 1, idle_timeout: 3, handshake_timeout: 2, retry_base: 0.2, retry_timer: 1 };
const REATTEST_S = 2;
const DEADLINE_MS = 60_000;
const bOnA = peerObjectPath('bmc-b');

/** provisioning_reattestations_total by verdict, as the daemon whose metrics listen on `port` serves them. */
async function reattestationsCounted(port: number): Promise<Record<string, number | undefined>> {
  const { text } = await getMetricsPath(port, '/metrics');
  return Object.fromEntries(['passed', 'rejected', 'unreachable'].map((v) => [v, metricSample(text, `provisioning_reattestations_total{verdict="${v}"}`)]));
}

describe('a re-attestation whose binding went while it ran', () => {
  const fixture = useBusFixture();

  it('ends without a verdict: the peer stays not attested, is not revoked, its CA is not trusted again, and the log says why', async () => {
    // bmc-a's dials to bmc-b fail (nothing listens at the port it knows for it): bmc-a re-attests
    // bmc-b on the interval between dials (NotConnected.Reattesting), which no link event cuts short.
    // bmc-b never re-attests bmc-a: its own attestation of bmc-a, held by its stopped attestationd
    // too, would make bmc-a attest it back (a full attestation, trusting its CA again) once it ends.
    const deadPort = await freePort();
    const metricsPort = await freePort();
    const [a, b] = await startAttestedPair(fixture, { attestation_timeout: 30, ...LINK_CONFIG }, DEADLINE_MS, (name, peer) =>
      name === 'bmc-a'
        ? { reattest_interval_s: REATTEST_S, metrics_port: metricsPort, peers: [{ name: peer.name, address: '127.0.0.1', port: deadPort, spdm_port: peer.att.spdmPort }] }
        : { reattest_interval_s: 0 },
    );
    const output = () => pairOutput([a, b]);
    const recA = await recordPeerStatus(a.bus);
    fixture.cleanup(() => recA.close());
    const provision = await busctl(a.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-b');
    assert.equal(provision.code, 0, provision.stderr);
    assert.ok(await eventually(async () => (await peerProperty(a.bus, bOnA, 'attested')) === 'true', DEADLINE_MS, 100), `bmc-a attested bmc-b\n${output()}`);
    const trustDir = join(a.dir, 'state', 'trust');
    const caFiles = () => (existsSync(trustDir) ? readdirSync(trustDir).filter((n) => n.endsWith('.pem')) : []);
    const [caFile] = caFiles();
    assert.ok(caFile, `bmc-b's CA is bound in bmc-a's trust store\n${output()}`);

    // Hold the next re-attestation in flight: bmc-b's SPDM responder stops answering, right after a
    // pass (so with none under way: the next is an interval away), and the next one's request waits for it.
    const responder = b.attestationd;
    assert.ok(responder, 'bmc-b runs attestationd');
    fixture.cleanup(() => responder.kill('SIGCONT'));
    const passed = await recA.waitFor((c) => c.peer === 'bmc-b' && c.lastAttested !== undefined, { since: Date.now(), timeoutMs: DEADLINE_MS });
    assert.ok(passed, `bmc-a re-attested bmc-b\n${output()}`);
    responder.kill('SIGSTOP');
    assert.ok(await eventually(() => holdsUnreadBytes({ port: b.att.spdmPort }), DEADLINE_MS, 100), `a re-attestation of bmc-b waits for its stopped responder\n${output()}`);

    // The binding goes meanwhile: bmc-a's trust store sees the file deleted.
    const outputBefore = a.daemon?.output().length ?? 0;
    rmSync(join(trustDir, caFile));
    assert.ok(await eventually(async () => (await peerProperty(a.bus, bOnA, 'attested')) === 'false', DEADLINE_MS, 100), `bmc-a saw bmc-b's binding go\n${output()}`);
    const lastAttested = await peerProperty(a.bus, bOnA, 'lastAttested');
    const counted = await reattestationsCounted(metricsPort);

    // The responder answers again: the evidence verifies, with nothing bound to compare it with.
    responder.kill('SIGCONT');
    const unbound = /info +re-attestation of bmc-b ended without a verdict: no CA is bound to bmc-b any more: nothing to compare the measured provisioning CA with .*event=REATTESTATION_UNBOUND/;
    assert.ok(await eventually(() => unbound.test(a.daemon?.output().slice(outputBefore) ?? ''), DEADLINE_MS, 100), `the log says the re-attestation ended without a verdict\n${output()}`);

    assert.equal(await peerProperty(a.bus, bOnA, 'attested'), 'false', `the verified evidence did not make bmc-b attested again\n${output()}`);
    assert.deepEqual(caFiles(), [], "bmc-b's CA was not trusted again");
    assert.equal(await peerProperty(a.bus, bOnA, 'lastAttested'), lastAttested, 'no pass was recorded');
    assert.equal(await peerProperty(a.bus, bOnA, 'attestationStale'), 'false', 'no re-attestation that could not run was counted');
    assert.doesNotMatch((await peerProperty(a.bus, bOnA, 'lastFailure')) ?? '', /ATTESTATION_REVOKED/, 'bmc-b was not revoked');
    assert.deepEqual(
      recA.changes.filter((c) => c.peer === 'bmc-b' && c.revoked !== undefined),
      [],
      'no AttestationRevoked signal for bmc-b',
    );
    const after = a.daemon?.output().slice(outputBefore) ?? '';
    assert.doesNotMatch(after, /REATTESTATION_REJECTED|ATTESTATION_REVOKED|CA_REVOKED|REATTESTATION_UNREACHABLE/, 'no verdict, no revocation, nothing counted as unreachable');
    assert.deepEqual(await reattestationsCounted(metricsPort), counted, 'provisioning_reattestations_total counts no verdict for it');
    const persisted = (JSON.parse(readFileSync(join(a.dir, 'state', 'state.json'), 'utf8')) as { peers?: Record<string, { verdict?: string }> }).peers?.['bmc-b'];
    assert.notEqual(persisted?.verdict, 'revoked', 'state.json records no revocation');
  });
});
