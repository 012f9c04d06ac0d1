/**
 * A locked token: the TPM's dictionary-attack protection locks the PIN after repeated wrong PINs.
 * The daemon keeps running, says PIN_LOCKED (even once the right PIN is configured), loses
 * nothing, and provisions as soon as an administrator clears the lockout.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { getProperty } from '../harness/daemon.ts';
import { dbusSend } from '../harness/dbus-send.ts';
import { mustRun } from '../harness/run-tool.ts';
import { startSoftTpmToken, type SoftTpmToken } from '../harness/soft-tpm.ts';

describe('a locked TPM token', () => {
  const fixture = useBusFixture();
  let tpm: SoftTpmToken | undefined;
  const token = () => {
    assert.ok(tpm, 'the software TPM was started in before()');
    return tpm;
  };

  before(async () => {
    tpm = await startSoftTpmToken();
    // Stopped by the fixture once the daemons using it are.
    fixture.finally(() => tpm?.stop());
    // Two wrong PINs lock it; no automatic recovery within the test.
    await mustRun('tpm2_dictionarylockout', ['--setup-parameters', '--max-tries=2', '--recovery-time=600', '--lockout-recovery-time=10'], { env: tpm.env });
  }, { timeout: 300_000 });

  it('wrong PINs lock it: PIN_INCORRECT, then PIN_LOCKED; the daemon stays up', async () => {
    const wrong = join(token().dir, 'wrong.pin');
    writeFileSync(wrong, 'not-the-pin\n', { mode: 0o600 });
    const daemon = await fixture.startDaemon({
      config: { name: 'bmc-locked', token: { ...token().token, pin_file: wrong }, token_timeout: 10 },
      env: token().env,
    });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await dbusSend({ bus: fixture.bus(), args: ['string:self'] });
      assert.equal(r.errorName, 'xyz.openbmc_project.Common.Error.Unavailable', r.stderr);
      seen.push(/(PIN_\w+)/.exec(r.stderr)?.[1] ?? r.stderr);
    }
    assert.deepEqual(seen, ['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_LOCKED']);
    assert.equal(daemon.process.exitCode, null, 'the daemon is still running');
    assert.equal(await getProperty(fixture.bus(), 'provisioned'), 'false');
    assert.match(daemon.output(), /CKR_PIN_LOCKED/);
    assert.ok(!daemon.output().includes(token().pin), 'the PIN is never logged');
    await fixture.stopDaemons();
  });

  it('locked even with the right PIN, and provisions once the lockout is cleared', async () => {
    await fixture.startDaemon({ config: { name: 'bmc-locked', token: token().token, token_timeout: 10 }, env: token().env });
    const locked = await dbusSend({ bus: fixture.bus(), args: ['string:self'] });
    assert.match(locked.stderr, /PIN_LOCKED/);
    assert.equal(await getProperty(fixture.bus(), 'provisioned'), 'false');

    await mustRun('tpm2_dictionarylockout', ['--clear-lockout'], { env: token().env });
    const ok = await dbusSend({ bus: fixture.bus(), args: ['string:self'] });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await getProperty(fixture.bus(), 'provisioned'), 'true');
  });
});
