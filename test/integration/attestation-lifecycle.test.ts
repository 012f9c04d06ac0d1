/**
 * attestationd's start and end: configuration and identity errors (exit 78, one line), the identity
 * key on a PKCS#11 token (SoftHSM2) through the same adapter provisioningd uses, its PIN file checked
 * at start (exit 78), SIGTERM (exit 0, name released), a lost bus (exit 69, also while it publishes)
 * and a start without a bus (exit 69).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ATTESTATION_SERVICE, DEVICE_INTERFACE, DEVICES_INTERFACE, REQUESTER_DEVICES, REQUESTER_ROOT, requesterPath } from '../../src/attestationd/names.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { attestationdArgs, createAttestationd, startAttestationd, writeManifest, writeRoots } from '../harness/attestationd.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { floodCalls } from '../harness/call-flood.ts';
import { busctl, eventually, freePort, REPO } from '../harness/daemon.ts';
import { startSoftHsmToken } from '../harness/softhsm.ts';
import { STARTUP_DEADLINE_MS } from '../harness/startup-deadline.ts';
import { makeFifo, releaseFifoReaders } from '../harness/stalled-file-system.ts';
import { createSpdmTestIdentity } from '../harness/spdm-identity.ts';

/** Runs attestationd to its exit (it must exit by itself) and returns status and output. */
async function runToExit(confPath: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, attestationdArgs(confPath), { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  try {
    return { code: await withTimeout(exit, 30_000, 'attestationd exit'), output };
  } finally {
    child.kill('SIGKILL');
  }
}

describe('attestationd lifecycle', () => {
  const fixture = useBusFixture();

  it('a broken configuration is one line naming the file and the field, exit 78', async () => {
    const dir = fixture.tempDir('attl-conf-');
    const conf = join(dir, 'attestation.conf');
    writeFileSync(conf, '{"attest_timeout": -1}');
    const r = await runToExit(conf, { DBUS_SYSTEM_BUS_ADDRESS: fixture.bus().address });
    assert.equal(r.code, 78, r.output);
    assert.equal(r.output.trimEnd().split('\n').length, 1, r.output);
    assert.match(r.output, new RegExp(`${conf}: field "attest_timeout"`));
  });

  it('no identity key, or a chain for another key: exit 78 with the reason', async () => {
    const dir = fixture.tempDir('attl-id-');
    const conf = join(dir, 'attestation.conf');
    const chain = join(dir, 'chain.pem');
    writeFileSync(chain, (await createSpdmTestIdentity({ curve: 'P-256' })).chainPem);
    writeFileSync(conf, JSON.stringify({ state_dir: join(dir, 'state'), identity_chain: chain, spdm_address: '127.0.0.1', spdm_port: 1 }));
    const missing = await runToExit(conf, { DBUS_SYSTEM_BUS_ADDRESS: fixture.bus().address });
    assert.equal(missing.code, 78, missing.output);
    assert.match(missing.output, /IDENTITY_KEY_MISSING: no identity key on software token .*--create-identity-key/);

    // Now a key exists, but the chain certifies a generated one.
    const setup = await createAttestationd({ dir: join(dir, 'second'), name: 'bmc-x' });
    writeFileSync(String(setup.config['identity_chain']), (await createSpdmTestIdentity({ curve: 'P-256' })).chainPem);
    const mismatch = await runToExit(setup.confPath, { DBUS_SYSTEM_BUS_ADDRESS: fixture.bus().address });
    assert.equal(mismatch.code, 78, mismatch.output);
    assert.match(mismatch.output, /IDENTITY_KEY_MISMATCH: .*certifies another key/);

    // A chain in the wrong order (device first) is refused too.
    const identity = await createSpdmTestIdentity({ curve: 'P-256' });
    const reversed = identity.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/).filter(Boolean).reverse().join('');
    writeFileSync(String(setup.config['identity_chain']), reversed);
    const order = await runToExit(setup.confPath, { DBUS_SYSTEM_BUS_ADDRESS: fixture.bus().address });
    assert.equal(order.code, 78, order.output);
    assert.match(order.output, /IDENTITY_CHAIN_INVALID: .*the root must come first/);
  });

  it('an identity chain whose read does not finish (a FIFO nobody writes) is IDENTITY_CHAIN_TIMEOUT at its deadline, exit 69', async () => {
    const dir = fixture.tempDir('attl-fifo-');
    const conf = join(dir, 'attestation.conf');
    const chain = join(dir, 'chain.pem');
    makeFifo(chain);
    fixture.cleanup(async () => releaseFifoReaders(chain));
    writeFileSync(conf, JSON.stringify({ state_dir: join(dir, 'state'), identity_chain: chain, spdm_address: '127.0.0.1', spdm_port: 1 }));
    const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: fixture.bus().address };
    const child = spawn(process.execPath, attestationdArgs(conf), { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    fixture.track(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    // Its own read deadline (10 s) says so; the test's deadline is a net for a loaded machine.
    const line = new RegExp(`IDENTITY_CHAIN_TIMEOUT: identity chain ${chain}: reading ${chain} timed out after 10000 ms`);
    assert.ok(await eventually(() => line.test(output), STARTUP_DEADLINE_MS + 10_000), output);
    // The read itself still blocks one of node's threads, and node waits for them at the exit:
    // once it ends (the disk answers), attestationd is gone with 69, so that systemd starts it again.
    releaseFifoReaders(chain);
    assert.equal(await withTimeout(exit, 30_000, 'attestationd exit'), 69, output);
  });

  it('the identity key on a SoftHSM2 token: it attests itself, stops on SIGTERM (0, name released)', async () => {
    const token = await startSoftHsmToken({ label: 'att-id', keyLabel: 'attestation-identity' });
    fixture.cleanup(() => token.stop());
    const dir = fixture.tempDir('attl-hsm-');
    const setup = await createAttestationd({ dir, name: 'bmc-h', config: { identity_token: token.token }, env: token.env });
    writeRoots(setup, [setup.rootPem]);
    writeManifest(setup, [{ index: 1, files: [join(REPO, 'src/attestationd/main.ts')] }]);
    mkdirSync(join(dir, 'root'), { recursive: true });
    const d = await startAttestationd({ bus: fixture.bus(), setup, env: token.env });
    fixture.cleanup(() => d.stop());
    assert.ok(await d.waitForOutput(/identity "CN=bmc-h device identity" on PKCS#11 token "att-id"/), d.output());
    const add = await busctl(fixture.bus(), 'call', ATTESTATION_SERVICE, '/xyz/openbmc_project/attestation_requester', 'xyz.openbmc_project.AttestationDevices', 'AddDevice', 'sss', 'bmc-h', '127.0.0.1', String(setup.spdmPort));
    assert.equal(add.code, 0, add.stderr);
    const path = '/xyz/openbmc_project/attestation_requester/devices/tcp/bmc_2dh';
    assert.equal((await busctl(fixture.bus(), 'call', ATTESTATION_SERVICE, path, 'xyz.openbmc_project.AttestationDevice', 'attest')).code, 0);
    // No provisioning CA here (cert_root holds none): the signed exchange ran, and says exactly that.
    let reason = '';
    for (let i = 0; i < 200 && !reason; i++) {
      const r = await busctl(fixture.bus(), '--json=short', 'get-property', ATTESTATION_SERVICE, path, 'xyz.openbmc_project.AttestationDevice', 'last_failure');
      reason = (JSON.parse(r.stdout) as { data: string }).data;
      if (!reason) await new Promise((res) => setTimeout(res, 100));
    }
    assert.match(reason, /^NO_PROVISIONING_CA: .*not provisioned yet/, d.output());
    // The responder logs its side when the requester's connection closes, which may come just
    // after the requester's verdict: wait for the line rather than race it.
    const served = /attested by 127\.0\.0\.1:\d+: signed measurements served/;
    assert.ok(await d.waitForOutput(served), d.output());

    d.kill('SIGTERM');
    const exit = await withTimeout(d.exited(), 15_000, 'attestationd exit');
    assert.equal(exit.code, 0, d.output());
    assert.notEqual((await busctl(fixture.bus(), 'status', ATTESTATION_SERVICE)).code, 0, 'the name is released');
  });

  it('a PIN file group or others can read, or a missing one: exit 78 at start with one line, the PIN never printed', async () => {
    const token = await startSoftHsmToken({ label: 'att-pin', keyLabel: 'attestation-identity' });
    fixture.cleanup(() => token.stop());
    const dir = fixture.tempDir('attl-pin-');
    // A working setup first (the key exists, the chain certifies it): only the PIN file is wrong below.
    const setup = await createAttestationd({ dir, name: 'bmc-p', config: { identity_token: token.token }, env: token.env });
    const env = { ...token.env, DBUS_SYSTEM_BUS_ADDRESS: fixture.bus().address };

    chmodSync(token.token.pin_file, 0o644);
    const loose = await runToExit(setup.confPath, env);
    assert.equal(loose.code, 78, loose.output);
    assert.equal(loose.output.trimEnd().split('\n').length, 1, loose.output);
    assert.match(loose.output, new RegExp(`attestationd: ${setup.confPath}: PIN_FILE_INSECURE: pin_file ${token.token.pin_file} has mode 0644; .*chmod 600`));
    assert.ok(!loose.output.includes(token.pin), 'the PIN is not printed');

    const absent = join(dir, 'absent.pin');
    writeFileSync(setup.confPath, JSON.stringify({ ...setup.config, identity_token: { ...token.token, pin_file: absent } }));
    const missing = await runToExit(setup.confPath, env);
    assert.equal(missing.code, 78, missing.output);
    assert.equal(missing.output.trimEnd().split('\n').length, 1, missing.output);
    assert.match(missing.output, new RegExp(`attestationd: ${setup.confPath}: PIN_FILE_UNREADABLE: pin_file ${absent} cannot be read: ENOENT`));
  });

  it('exits 69 when the bus goes away', async () => {
    const bus = await fixture.newBus();
    const dir = fixture.tempDir('attl-bus-');
    const setup = await createAttestationd({ dir, name: 'bmc-l' });
    const d = await startAttestationd({ bus, setup });
    fixture.cleanup(() => d.stop());
    await bus.stop();
    const exit = await withTimeout(d.exited(), 15_000, 'attestationd exit');
    assert.equal(exit.code, 69, d.output());
    assert.match(d.output(), /lost the system bus/);
  });

  /** How many times the bus is killed while attestationd publishes (see bus-lost.test.ts). */
  const ROUNDS = 3;

  it('exits 69 when the bus is killed while it publishes a stream of changes, never with a crash', async () => {
    const setup = await createAttestationd({ dir: fixture.tempDir('attl-flood-'), name: 'bmc-f' });
    // Devices at a port nobody listens on: each attest fails at once, publishing its status twice and Attested(false).
    const closed = String(await freePort());
    const ids = Array.from({ length: 16 }, (_, i) => `dev-${i}`);
    for (let round = 1; round <= ROUNDS; round++) {
      const bus = await fixture.newBus();
      const d = await startAttestationd({ bus, setup });
      fixture.cleanup(() => d.stop());
      for (const id of ids) {
        const add = await busctl(bus, 'call', ATTESTATION_SERVICE, REQUESTER_ROOT, DEVICES_INTERFACE, 'AddDevice', 'sss', id, '127.0.0.1', closed);
        assert.equal(add.code, 0, add.stderr);
      }
      const calls = ids.map((id) => ({ destination: ATTESTATION_SERVICE, path: requesterPath(id), interface: DEVICE_INTERFACE, member: 'attest' }));
      const flood = floodCalls({ bus, calls, signalsUnder: REQUESTER_DEVICES });
      fixture.cleanup(() => flood.stop());
      try {
        assert.ok(await flood.waitForSignals(300, 30_000), `round ${round}: attestationd publishes: ${flood.signals()} signals seen\n${d.output()}`);
        process.kill(bus.pid, 'SIGKILL');
        const exit = await withTimeout(d.exited(), 30_000, 'attestationd exit');
        const what = `round ${round} (${flood.answered()} calls answered, ${flood.signals()} signals):\n${d.output()}`;
        assert.deepEqual(exit, { code: 69, signal: null }, what);
        assert.match(d.output(), /error.*lost the system bus: .*code=BUS_LOST/, what);
        assert.doesNotMatch(d.output(), /^\s+at /m, `no stack trace: ${what}`);
      } finally {
        flood.stop();
      }
    }
  });

  it('no bus daemon at the address: exit 69 with the connection error, naming the address', async () => {
    const setup = await createAttestationd({ dir: fixture.tempDir('attl-nobus-'), name: 'bmc-n' });
    const address = `unix:path=${join(setup.dir, 'no_bus_socket')}`;
    const r = await runToExit(setup.confPath, { DBUS_SYSTEM_BUS_ADDRESS: address });
    assert.equal(r.code, 69, r.output);
    assert.ok(r.output.includes(`attestationd: cannot start: cannot connect to the system bus at ${address}: connect ENOENT`), r.output);
  });
});
