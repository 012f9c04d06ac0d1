/**
 * attestationd alone on a private bus: it attests its own SPDM responder over loopback (a real
 * SPDM 1.2 exchange, its identity key on the software token), driven with busctl as an operator
 * would. Every bad input fails that attestation with a clear reason and the service stays up.
 */
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import dbus from 'dbus-next';
import {
  ATTESTATION_SERVICE,
  DEVICE_INTERFACE,
  DEVICES_INTERFACE,
  PROVISIONING_CA_INDEX,
  REQUESTER_ROOT,
  RESPONDER_INTERFACE,
  RESPONDER_ROOT,
  requesterPath,
  responderPath,
} from '../../src/attestationd/names.ts';
import { AttestationError, requestAttestation } from '../../src/attestation-client/attestation-client.ts';
import { watchResponderAttestations } from '../../src/attestation-client/responder-attestations.ts';
import { nameOwner } from '../../src/dbus/bus-call.ts';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { createAttestationd, startAttestationd, writeManifest, writeRoots, type AttestationdSetup } from '../harness/attestationd.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { captureLog } from '../harness/capture-log.ts';
import { busctl, eventually, freePort, REPO, type DaemonHandle } from '../harness/daemon.ts';
import { dbusSend } from '../harness/dbus-send.ts';
import { makeTestCa, type TestCa } from '../harness/openssl-test-ca.ts';
import { createSpdmTestIdentity } from '../harness/spdm-identity.ts';

/** Reads a string property of a requester object with busctl. */
async function deviceProperty(bus: ReturnType<ReturnType<typeof useBusFixture>['bus']>, id: string, name: string): Promise<string> {
  const r = await busctl(bus, '--json=short', 'get-property', ATTESTATION_SERVICE, requesterPath(id), DEVICE_INTERFACE, name);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { data: string }).data;
}

describe('attestationd on a private bus', () => {
  const fixture = useBusFixture();
  let setup: AttestationdSetup;
  let daemon: DaemonHandle;
  let ca: TestCa;
  let measured: string;
  let client: dbus.MessageBus;
  /** Attested(b) signals seen, by object path. */
  const verdicts: Array<{ path: string; ok: boolean; iface: string }> = [];
  let silent: Server;
  const silentSockets = new Set<Socket>();

  before(async () => {
    const dir = fixture.tempDir('attd-');
    measured = join(dir, 'measured-firmware.bin');
    copyFileSync(join(REPO, 'src/attestationd/main.ts'), measured);
    setup = await createAttestationd({
      dir,
      name: 'bmc-a',
      config: { measurements: [{ index: 1, file: measured, kind: 'firmware' }], attest_timeout: 4 },
    });
    writeRoots(setup, [setup.rootPem]);
    writeManifest(setup, [{ index: 1, files: [measured], description: 'firmware' }]);
    ca = await makeTestCa({ dir, stem: 'self-ca', subject: '/CN=bmc-a Provisioning CA' });
    const selfCa = certPaths(String(setup.config['cert_root'])).selfCa;
    mkdirSync(join(selfCa, '..'), { recursive: true });
    copyFileSync(ca.certFile, selfCa);
    daemon = await startAttestationd({ bus: fixture.bus(), setup });
    fixture.cleanup(() => daemon.stop());

    process.env['DBUS_SYSTEM_BUS_ADDRESS'] = fixture.bus().address;
    client = dbus.systemBus();
    fixture.cleanup(() => client.disconnect());
    await client.call(
      new dbus.Message({
        destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch',
        signature: 's', body: [`type='signal',member='Attested'`],
      }),
    );
    client.on('message', (msg) => {
      if (msg.type === dbus.MessageType.SIGNAL && msg.member === 'Attested') verdicts.push({ path: msg.path, ok: msg.body[0] === true, iface: msg.interface });
    });

    silent = createServer((s) => {
      silentSockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', () => res()));
    fixture.cleanup(async () => {
      for (const s of silentSockets) s.destroy();
      await new Promise<void>((res) => silent.close(() => res()));
    });
  }, { timeout: 300_000 });

  /** AddDevice + attest with busctl, then waits for that device's Attested(b). */
  async function attestWithBusctl(id: string, port: number): Promise<boolean> {
    const add = await busctl(fixture.bus(), 'call', ATTESTATION_SERVICE, REQUESTER_ROOT, DEVICES_INTERFACE, 'AddDevice', 'sss', id, '127.0.0.1', String(port));
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout.trim(), `o "${requesterPath(id)}"`);
    const seen = verdicts.length;
    const call = await busctl(fixture.bus(), 'call', ATTESTATION_SERVICE, requesterPath(id), DEVICE_INTERFACE, 'attest');
    assert.equal(call.code, 0, call.stderr);
    const path = requesterPath(id);
    assert.ok(await eventually(() => verdicts.slice(seen).some((v) => v.path === path), 20_000), `no Attested signal for ${id}\n${daemon.output()}`);
    return verdicts.slice(seen).find((v) => v.path === path)?.ok ?? false;
  }

  it('attests a device: Attested(true), status Attested, the CA from measurement block 0xEF', async () => {
    assert.equal(await attestWithBusctl('bmc-a', setup.spdmPort), true, daemon.output());
    assert.equal(await deviceProperty(fixture.bus(), 'bmc-a', 'status'), 'Attested');
    assert.equal(await deviceProperty(fixture.bus(), 'bmc-a', 'last_failure'), '');
    assert.equal(await deviceProperty(fixture.bus(), 'bmc-a', 'provisioning_ca'), ca.pem);
    assert.equal(await deviceProperty(fixture.bus(), 'bmc-a', 'remote_ip'), '127.0.0.1');
    assert.equal(await deviceProperty(fixture.bus(), 'bmc-a', 'remote_port'), String(setup.spdmPort));
    assert.match(await deviceProperty(fixture.bus(), 'bmc-a', 'device_subject'), /bmc-a device identity/);
    assert.equal(PROVISIONING_CA_INDEX, 0xef);
    // The responder side of the same exchange: the requester at 127.0.0.1 attested this BMC.
    const responder = '/xyz/openbmc_project/attestation_responder/tcp/_3127_2e0_2e0_2e1';
    assert.ok(await eventually(() => verdicts.some((v) => v.path === responder && v.ok && v.iface === RESPONDER_INTERFACE), 10_000), JSON.stringify(verdicts));
    const ip = await busctl(fixture.bus(), '--json=short', 'get-property', ATTESTATION_SERVICE, responder, RESPONDER_INTERFACE, 'remote_ip');
    assert.equal((JSON.parse(ip.stdout) as { data: string }).data, '127.0.0.1');
  });

  it('a wrong root fails the attestation (UNTRUSTED_CHAIN), clears the CA, and the service stays up', async () => {
    const other = await createSpdmTestIdentity({ curve: 'P-256' });
    writeRoots(setup, [other.rootPem]);
    try {
      assert.equal(await attestWithBusctl('bmc-a', setup.spdmPort), false);
      assert.equal(await deviceProperty(fixture.bus(), 'bmc-a', 'status'), 'Failed');
      assert.match(await deviceProperty(fixture.bus(), 'bmc-a', 'last_failure'), /^UNTRUSTED_CHAIN: /);
      assert.equal(await deviceProperty(fixture.bus(), 'bmc-a', 'provisioning_ca'), '');
    } finally {
      writeRoots(setup, [setup.rootPem]);
    }
  });

  it('a tampered measured file fails the attestation (MEASUREMENT_MISMATCH)', async () => {
    const original = readFileSync(measured);
    appendFileSync(measured, '\n// tampered\n');
    try {
      assert.equal(await attestWithBusctl('bmc-a', setup.spdmPort), false);
      const reason = await deviceProperty(fixture.bus(), 'bmc-a', 'last_failure');
      assert.match(reason, /^MEASUREMENT_MISMATCH: measurement 1 \(firmware\) is [0-9a-f]{16}…, not one of its 1 reference digest\(s\)$/);
    } finally {
      writeFileSync(measured, original);
    }
  });

  it('a broken reference manifest fails the attestation (MANIFEST_INVALID)', async () => {
    const file = String(setup.config['reference_manifest']);
    writeFileSync(file, '{"version": 1, "measurements": [{"index": 1, "sha256": ["nothex"]}]}');
    try {
      assert.equal(await attestWithBusctl('bmc-a', setup.spdmPort), false);
      assert.match(await deviceProperty(fixture.bus(), 'bmc-a', 'last_failure'), /^MANIFEST_INVALID: .*sha256.*64 hex digits/);
    } finally {
      writeManifest(setup, [{ index: 1, files: [measured], description: 'firmware' }]);
    }
  });

  it('an unreachable device fails with CONNECTION', async () => {
    assert.equal(await attestWithBusctl('bmc-gone', await freePort()), false);
    assert.match(await deviceProperty(fixture.bus(), 'bmc-gone', 'last_failure'), /^CONNECTION: /);
  });

  it('a device that never answers fails with TIMEOUT within attest_timeout', async () => {
    const port = (silent.address() as { port: number }).port;
    assert.equal(await attestWithBusctl('bmc-silent', port), false);
    assert.match(await deviceProperty(fixture.bus(), 'bmc-silent', 'last_failure'), /^TIMEOUT: /);
  });

  it("provisioningd's client counts only the verdict of the owner that answered AddDevice: a forged Attested(true) is ignored", async () => {
    const port = (silent.address() as { port: number }).port;
    const forger = dbus.systemBus();
    fixture.cleanup(() => forger.disconnect());
    const id = 'bmc-silent-forged';
    const outcome = requestAttestation({ bus: client, id, ip: '127.0.0.1', spdmPort: port, timeoutMs: 30_000, busCallTimeoutMs: 10_000 }).then(
      () => 'attested',
      (err: unknown) => err,
    );
    // attestationd is attesting the silent device (its verdict comes after attest_timeout): another
    // connection on the bus emits the verdict first, on the same object.
    assert.ok(await eventually(async () => (await deviceProperty(fixture.bus(), id, 'status').catch(() => '')) === 'Attesting', 10_000));
    forger.send(dbus.Message.newSignal(requesterPath(id), DEVICE_INTERFACE, 'Attested', 'b', [true]));
    const result = await outcome;
    assert.ok(result instanceof AttestationError, `the forged verdict was taken: ${String(result)}`);
    assert.equal(result.code, 'ATTESTATION_FAILED');
    assert.match(result.message, /^TIMEOUT: /, "attestationd's own verdict (its last_failure), not the forged one");
  });

  it('refuses bad AddDevice arguments with InvalidArgument', async () => {
    for (const args of [['bmc b', '127.0.0.1', '2323'], ['bmc-b', 'not-an-ip', '2323'], ['bmc-b', '127.0.0.1', '70000']]) {
      const r = await dbusSend({
        bus: fixture.bus(), dest: ATTESTATION_SERVICE, path: REQUESTER_ROOT, method: `${DEVICES_INTERFACE}.AddDevice`,
        args: args.map((a) => `string:${a}`),
      });
      assert.equal(r.errorName, 'xyz.openbmc_project.Common.Error.InvalidArgument', `${args.join(' ')}: ${r.stderr}`);
    }
  });

  it('only root may call attest() and AddDevice; anybody may read the verdict', async () => {
    const attest = await dbusSend({ bus: fixture.bus(), dest: ATTESTATION_SERVICE, path: requesterPath('bmc-a'), method: `${DEVICE_INTERFACE}.attest`, asNobody: true });
    assert.equal(attest.errorName, 'org.freedesktop.DBus.Error.AccessDenied');
    const add = await dbusSend({
      bus: fixture.bus(), dest: ATTESTATION_SERVICE, path: REQUESTER_ROOT, method: `${DEVICES_INTERFACE}.AddDevice`,
      args: ['string:bmc-x', 'string:127.0.0.1', 'string:2323'], asNobody: true,
    });
    assert.equal(add.errorName, 'org.freedesktop.DBus.Error.AccessDenied');
    const read = await dbusSend({
      bus: fixture.bus(), dest: ATTESTATION_SERVICE, path: requesterPath('bmc-a'), method: 'org.freedesktop.DBus.Properties.Get',
      args: [`string:${DEVICE_INTERFACE}`, 'string:status'], asNobody: true,
    });
    assert.equal(read.errorName, undefined, read.stderr);
  });

  it('sends the verdict\'s four properties in one PropertiesChanged right before Attested(b)', async () => {
    const watcher = dbus.systemBus();
    fixture.cleanup(() => watcher.disconnect());
    const path = requesterPath('bmc-a');
    const seen: Array<{ member: string; body: unknown[] }> = [];
    await watcher.call(
      new dbus.Message({
        destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch',
        signature: 's', body: [`type='signal',sender='${ATTESTATION_SERVICE}',path='${path}'`],
      }),
    );
    watcher.on('message', (msg) => {
      if (msg.type === dbus.MessageType.SIGNAL && msg.path === path) seen.push({ member: msg.member, body: msg.body });
    });
    assert.equal(await attestWithBusctl('bmc-a', setup.spdmPort), true, daemon.output());
    assert.ok(await eventually(() => seen.some((m) => m.member === 'Attested'), 10_000), JSON.stringify(seen.map((m) => m.member)));
    const at = seen.findIndex((m) => m.member === 'Attested');
    const before = seen[at - 1];
    assert.equal(before?.member, 'PropertiesChanged', `the signal right before Attested: ${JSON.stringify(seen.map((m) => m.member))}`);
    const changed = (before?.body[1] ?? {}) as Record<string, dbus.Variant>;
    assert.deepEqual(Object.keys(changed).sort(), ['device_subject', 'last_failure', 'provisioning_ca', 'status']);
    assert.equal(changed['status']?.value, 'Attested');
    assert.equal(changed['provisioning_ca']?.value, ca.pem);
  });

  it("provisioningd's responder watch: who attested us comes with the PropertiesChanged before Attested(true); a forged Attested(true) is ignored", async () => {
    const seen: Array<{ sender: string; member: string; body: unknown[] }> = [];
    client.on('message', (msg) => {
      if (msg.type === dbus.MessageType.SIGNAL && msg.path?.startsWith(`${RESPONDER_ROOT}/`)) seen.push({ sender: msg.sender ?? '', member: msg.member, body: msg.body });
    });
    await client.call(
      new dbus.Message({
        destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch',
        signature: 's', body: [`type='signal',sender='${ATTESTATION_SERVICE}',path_namespace='${RESPONDER_ROOT}'`],
      }),
    );
    const captured = captureLog();
    const attestedBy: string[] = [];
    const unwatch = await watchResponderAttestations({ bus: client, log: captured.log, busCallTimeoutMs: 10_000, onAttested: (a) => attestedBy.push(a) });
    fixture.cleanup(() => unwatch());
    // Another connection emits Attested(true) on a responder object: this client's own broad
    // match (member='Attested', in before) routes it to the watch, which must not take it.
    const forger = dbus.systemBus();
    fixture.cleanup(() => forger.disconnect());
    forger.send(dbus.Message.newSignal(responderPath('127.0.0.1'), RESPONDER_INTERFACE, 'Attested', 'b', [true]));
    assert.ok(
      await eventually(() => captured.lines().some((l) => /^warn ignoring an Attested signal on .* not xyz\.openbmc_project\.attestation code=FORGED_SIGNAL/.test(l)), 10_000),
      `the forged signal is refused with one line: ${captured.lines().join('\n')}`,
    );
    assert.deepEqual(attestedBy, [], 'the forged signal attests nobody back');
    // attestationd attests itself over loopback: its responder object says so, with the address.
    assert.equal(await attestWithBusctl('bmc-a', setup.spdmPort), true, daemon.output());
    assert.ok(await eventually(() => attestedBy.length === 1, 10_000), `the watch reports the real one: ${captured.lines().join('\n')}`);
    assert.deepEqual(attestedBy, ['127.0.0.1']);
    const owner = await nameOwner(client, ATTESTATION_SERVICE, 10_000);
    const real = seen.filter((m) => m.sender === owner);
    // The last one is this attestation's (an earlier test's last signals may still arrive at first).
    const at = real.findLastIndex((m) => m.member === 'Attested' && m.body[0] === true);
    const before = real[at - 1];
    assert.equal(before?.member, 'PropertiesChanged', `the signal right before Attested: ${JSON.stringify(real.map((m) => m.member))}`);
    const changed = (before?.body[1] ?? {}) as Record<string, dbus.Variant>;
    assert.match(String(changed['remote_ip']?.value), /^(::ffff:)?127\.0\.0\.1$/, 'remote_ip comes with it: no GetAll needed');
    assert.match(String(changed['remote_port']?.value), /^\d+$/);
  });

  it('after every failure the service still attests, and never crashed', async () => {
    assert.equal(await attestWithBusctl('bmc-a', setup.spdmPort), true, daemon.output());
    assert.equal(daemon.process.exitCode, null);
    assert.doesNotMatch(daemon.output(), /internal error|Unhandled/);
  });
});
