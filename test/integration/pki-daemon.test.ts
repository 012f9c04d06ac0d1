/**
 * The daemon with a tpm2-pkcs11 token (swtpm + tpm2-abrmd): ProvisionPeer("self") through busctl
 * leaves a CA and leaf chains that verify, the CA key stays in the TPM, and token failures come
 * back as OpenBMC Common errors while the daemon stays up.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, getProperty, IFACE, OBJECT, SERVICE, type DaemonHandle } from '../harness/daemon.ts';
import { dbusSend } from '../harness/dbus-send.ts';
import { runTool } from '../harness/run-tool.ts';
import { checkSelfProvisioningFiles } from '../harness/self-provisioning-files.ts';
import { startSoftTpmToken, type SoftTpmToken } from '../harness/soft-tpm.ts';

const NAME = 'bmc-tpm';
const COMMON_ERROR = /^xyz\.openbmc_project\.Common\.Error\.\w+$/;

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

async function provisionSelf(bus: ReturnType<ReturnType<typeof useBusFixture>['bus']>) {
  return dbusSend({ bus, args: ['string:self'] });
}

describe('daemon with a tpm2-pkcs11 token', () => {
  const fixture = useBusFixture();
  let tpm: SoftTpmToken | undefined;
  const tpmToken = () => {
    assert.ok(tpm, 'the software TPM was started in before()');
    return tpm;
  };
  const startWith = (token: Record<string, unknown>, opts: { waitForName?: boolean } = {}) =>
    fixture.startDaemon({ config: { name: NAME, token, token_timeout: 10 }, env: tpmToken().env, ...opts });

  before(async () => {
    tpm = await startSoftTpmToken();
    // Stopped by the fixture once the daemons using it are.
    fixture.finally(() => tpm?.stop());
  }, { timeout: 300_000 });

  let daemon: DaemonHandle | undefined;

  it('busctl ProvisionPeer s self: files verify, the CA key is sensitive and never extractable, no PEM key on disk', async () => {
    const bus = fixture.bus();
    daemon = await startWith(tpmToken().token);
    const call = await busctl(bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, `${call.stderr}\n${daemon.output()}`);
    assert.ok(await eventually(async () => (await getProperty(bus, 'provisioned')) === 'true', 10_000), daemon.output());

    const certRoot = String(daemon.config['cert_root']);
    const stateDir = String(daemon.config['state_dir']);
    await checkSelfProvisioningFiles({ certRoot, name: NAME });

    const { token, pin, env } = tpmToken();
    const listed = await runTool(
      'pkcs11-tool',
      ['--module', token.module, '--token-label', token.label, '--login', '--pin', pin, '--list-objects', '--type', 'privkey'],
      { env },
    );
    assert.equal(listed.code, 0, listed.stderr);
    const block = listed.stdout.split(/\n(?=\S)/).find((b) => /label:\s+provisioningd-ca/.test(b));
    assert.ok(block, listed.stdout);
    const access = /Access:\s+(.*)/.exec(block)?.[1] ?? '';
    assert.match(access, /(^|, )sensitive/);
    assert.match(access, /never extractable/);

    const files = [...filesUnder(certRoot), ...filesUnder(stateDir)];
    assert.ok(files.length >= 3, files.join(', '));
    for (const f of files) assert.doesNotMatch(readFileSync(f, 'latin1'), /PRIVATE KEY/, `${f} holds a PEM private key`);
  });

  it('swtpm killed: ProvisionPeer("self") fails with a Common error naming TOKEN_GONE, the daemon stays up and recovers', async () => {
    const bus = fixture.bus();
    const d = daemon;
    assert.ok(d);
    // Stopped whatever happens: the next tests start their own daemon on this bus.
    try {
      await tpmToken().killTpm();
      const failed = await provisionSelf(bus);
      assert.match(failed.errorName ?? '', COMMON_ERROR, failed.stderr);
      // The log reaches the pipe a little after the reply: waited for, with a deadline.
      assert.ok(/TOKEN_GONE/.test(failed.stderr) || (await d.waitForOutput(/TOKEN_GONE/)), `TOKEN_GONE named\n${failed.stderr}\n${d.output()}`);
      assert.ok(await d.waitForOutput(/CKR_[A-Z_]+/), `the PKCS#11 return code is logged\n${d.output()}`);
      assert.equal(d.process.exitCode, null, 'the daemon is still running');
      assert.equal((await busctl(bus, 'get-property', SERVICE, OBJECT, IFACE, 'provisioned')).code, 0);

      await tpmToken().restartTpm();
      const again = await provisionSelf(bus);
      assert.equal(again.errorName, undefined, `${again.stderr}\n${d.output()}`);
      await checkSelfProvisioningFiles({ certRoot: String(d.config['cert_root']), name: NAME });
    } finally {
      await d.stop();
    }
  });

  for (const bad of [
    { what: 'a wrong PIN', code: 'PIN_INCORRECT', ckr: 'CKR_PIN_INCORRECT', token: () => ({ pin_file: wrongPinFile() }) },
    { what: 'a missing token label', code: 'LABEL_NOT_FOUND', ckr: undefined, token: () => ({ label: 'not-there' }) },
  ]) {
    it(`${bad.what}: the daemon starts, ProvisionPeer("self") fails with a Common error naming ${bad.code}, the daemon stays up`, async () => {
      const d = await startWith({ ...tpmToken().token, ...bad.token() });
      try {
        const r = await provisionSelf(fixture.bus());
        assert.match(r.errorName ?? '', COMMON_ERROR, r.stderr);
        assert.ok(new RegExp(bad.code).test(r.stderr) || (await d.waitForOutput(new RegExp(bad.code))), `${bad.code} named\n${r.stderr}\n${d.output()}`);
        if (bad.ckr) assert.ok(await d.waitForOutput(new RegExp(bad.ckr)), `${bad.ckr} logged\n${d.output()}`);
        assert.equal(d.process.exitCode, null, 'still running');
        assert.ok(!d.output().includes('definitely-wrong') && !d.output().includes(tpmToken().pin), 'no PIN in the log');
        assert.equal(await getProperty(fixture.bus(), 'provisioned'), 'false');
      } finally {
        await d.stop();
      }
    });
  }

  it('a missing module (its package not installed): the daemon refuses to start (exit 78) with one line naming MODULE_MISSING and the path', async () => {
    const d = await startWith({ ...tpmToken().token, module: '/nonexistent/libpkcs11.so' }, { waitForName: false });
    const exit = await d.exited();
    assert.equal(exit.code, 78, d.output());
    assert.equal(d.output().trimEnd().split('\n').length, 1, d.output());
    assert.match(d.output(), /MODULE_MISSING: PKCS#11 module \/nonexistent\/libpkcs11\.so does not exist/);
  });

  it('a pin_file readable by others: the daemon refuses to start (exit 78) naming PIN_FILE_INSECURE', async () => {
    const loose = join(tpmToken().dir, 'loose.pin');
    writeFileSync(loose, `${tpmToken().pin}\n`);
    chmodSync(loose, 0o644);
    const d = await startWith({ ...tpmToken().token, pin_file: loose }, { waitForName: false });
    const exit = await d.exited();
    assert.equal(exit.code, 78, d.output());
    assert.match(d.output(), /PIN_FILE_INSECURE/);
    assert.ok(!d.output().includes(tpmToken().pin), 'the PIN is not printed');
  });

  function wrongPinFile(): string {
    const f = join(tpmToken().dir, 'wrong.pin');
    writeFileSync(f, 'definitely-wrong\n', { mode: 0o600 });
    return f;
  }
});
