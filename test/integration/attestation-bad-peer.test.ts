/**
 * provisioningd's side of a failed attestation: bmc-a (provisioningd + attestationd) is asked to
 * attest bmc-b (an attestationd on its own bus) under bad inputs — a root it does not accept, a
 * genuine device certified for another name, a tampered measurement, a peer that never answers,
 * its own attestationd gone. Each leaves bmc-b
 * untrusted with a one-line reason in the log, installs nothing, and the daemon keeps running;
 * with good inputs the same call then trusts bmc-b's CA.
 */
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { createAttestationd, startAttestationd, writeManifest, writeRoots, type AttestationdSetup } from '../harness/attestationd.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, freePort, IFACE, OBJECT, REPO, SERVICE, type DaemonHandle } from '../harness/daemon.ts';
import { daemonTrustDir } from '../harness/daemon-trust-dir.ts';
import { makeTestCa } from '../harness/openssl-test-ca.ts';
import { selfProvisioningFilesExist } from '../harness/self-provisioning-files.ts';

const DEADLINE_MS = 30_000;

describe('a peer that fails attestation stays untrusted', () => {
  const fixture = useBusFixture();

  it('wrong root, device certified for another name, tampered measurement, silent peer, no attestationd: a reason each, nothing installed; then success', async () => {
    const firmware = join(REPO, 'src/attestationd/main.ts');
    // bmc-b: an attestationd alone, measuring its own copy of the firmware, with a provisioning CA.
    const bDir = fixture.tempDir('bad-b-');
    const bFirmware = join(bDir, 'firmware.bin');
    copyFileSync(firmware, bFirmware);
    const b: AttestationdSetup = await createAttestationd({
      dir: bDir,
      name: 'bmc-b',
      config: { measurements: [{ index: 1, file: bFirmware, kind: 'firmware' }] },
    });
    const bCa = await makeTestCa({ dir: bDir, stem: 'b-ca', subject: '/CN=bmc-b Provisioning CA' });
    const bSelfCa = certPaths(String(b.config['cert_root'])).selfCa;
    mkdirSync(join(bSelfCa, '..'), { recursive: true });
    copyFileSync(bCa.certFile, bSelfCa);
    writeRoots(b, [b.rootPem]);
    writeManifest(b, [{ index: 1, files: [firmware] }]);
    const bBus = await fixture.newBus();
    const bAttestationd = await startAttestationd({ bus: bBus, setup: b });
    fixture.cleanup(() => bAttestationd.stop());

    // A peer that accepts TCP and never says a word.
    const sockets = new Set<Socket>();
    const silent = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', () => res()));
    fixture.cleanup(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => silent.close(() => res()));
    });
    const silentPort = (silent.address() as { port: number }).port;

    // bmc-a: provisioningd + attestationd. Its roots lack bmc-b's root at first.
    const aDir = fixture.tempDir('bad-a-');
    const a = await createAttestationd({
      dir: join(aDir, 'attestation'),
      name: 'bmc-a',
      config: { cert_root: `${join(aDir, 'root')}/`, attest_timeout: 20 },
    });
    const other = await createAttestationd({ dir: join(aDir, 'unrelated'), name: 'unrelated' });
    writeRoots(a, [other.rootPem]);
    writeManifest(a, [{ index: 1, files: [firmware], description: 'firmware' }]);
    const daemon: DaemonHandle = await fixture.startDaemon({
      dir: aDir,
      config: {
        name: 'bmc-a',
        cert_root: `${join(aDir, 'root')}/`,
        state_dir: join(aDir, 'state'),
        peers: [
          { name: 'bmc-b', address: '127.0.0.1', port: await freePort(), spdm_port: b.spdmPort },
          { name: 'bmc-d', address: '127.0.0.1', port: await freePort(), spdm_port: silentPort },
          // bmc-b's genuine device answering where bmc-e is expected.
          { name: 'bmc-e', address: '127.0.0.1', port: await freePort(), spdm_port: b.spdmPort },
        ],
        attestation_timeout: 4,
        retry_base: 0.5,
        retry_timer: 2,
      },
    });
    let aAttestationd = await startAttestationd({ bus: fixture.bus(), setup: a });
    fixture.cleanup(() => aAttestationd.stop());
    const r = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await eventually(() => selfProvisioningFilesExist(`${join(aDir, 'root')}/`), DEADLINE_MS));

    const authority = daemonTrustDir(daemon.config);
    const trusted = () => (existsSync(authority) ? readdirSync(authority).filter((n) => !n.startsWith('.')) : []);
    let seen = 0;
    /** ProvisionPeer(peer), then waits for a new log line matching `line`; returns it. */
    const attemptFails = async (peer: string, line: RegExp): Promise<string> => {
      seen = daemon.output().length;
      const call = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', peer);
      assert.equal(call.code, 0, call.stderr);
      const found = () => daemon.output().slice(seen).split('\n').find((l) => line.test(l));
      assert.ok(await eventually(() => found() !== undefined, DEADLINE_MS), `no line ${line} in\n${daemon.output().slice(seen)}\n--- attestationd\n${aAttestationd.output()}`);
      assert.deepEqual(trusted(), [], 'nothing was installed in the trust store');
      return found() ?? '';
    };

    await attemptFails('bmc-b', /attestation of bmc-b failed: UNTRUSTED_CHAIN: .*code=ATTESTATION_FAILED/);

    writeRoots(a, [a.rootPem, b.rootPem]);
    // A trusted chain and the right measurements, but the device is certified as bmc-b, not bmc-e.
    await attemptFails('bmc-e', /attestation of bmc-e failed: IDENTITY_NAME_MISMATCH: the device identity certificate names subjectAltName DNS:bmc-b, not bmc-e/);

    appendFileSync(bFirmware, '\n// tampered\n');
    await attemptFails('bmc-b', /attestation of bmc-b failed: MEASUREMENT_MISMATCH: measurement 1 \(firmware\) is [0-9a-f]{16}…/);

    await attemptFails('bmc-d', /peer=bmc-d .*reason=no attestation verdict within 4 s/);

    await aAttestationd.stop();
    await attemptFails('bmc-b', /attestation of bmc-b failed: the attestation service xyz\.openbmc_project\.attestation is not running .*code=ATTESTATION_SERVICE_UNAVAILABLE/);

    assert.equal(daemon.process.exitCode, null, 'provisioningd kept running');
    assert.equal(bAttestationd.process.exitCode, null, "bmc-b's attestationd kept running");

    // Good inputs: the very same call now trusts bmc-b's CA, bound to bmc-b.
    writeFileSync(bFirmware, readFileSync(firmware));
    aAttestationd = await startAttestationd({ bus: fixture.bus(), setup: a });
    seen = daemon.output().length;
    const ok = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-b');
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(await eventually(() => trusted().some((n) => n.endsWith('.pem')), DEADLINE_MS), daemon.output().slice(seen));
    const [file] = trusted().filter((n) => n.endsWith('.pem'));
    assert.match(readFileSync(join(authority, file ?? ''), 'utf8'), /^Attested-Name: bmc-b\n/);
  });
});
