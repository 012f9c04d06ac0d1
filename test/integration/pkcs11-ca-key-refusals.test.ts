/**
 * The CA key provisioningd accepts on a PKCS#11 token (SoftHSM2, real module): only one that never
 * left it. A key imported under the CA label (a copy may exist outside), and two keys under the
 * same label, are refused with a TokenError naming the reason; nothing is signed with them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Pkcs11Token } from '../../src/pki/token/pkcs11-token.ts';
import { TokenError } from '../../src/pki/token/token-error.ts';
import { captureLog } from '../harness/capture-log.ts';
import { mustRun } from '../harness/run-tool.ts';
import { startSoftHsmToken, type TestToken } from '../harness/softhsm.ts';

describe('the CA key on a PKCS#11 token: only one generated there', () => {
  const tokens: TestToken[] = [];
  const saved = new Map<string, string | undefined>();
  let probe: Pkcs11Token | undefined;

  before(() => saved.set('SOFTHSM2_CONF', process.env['SOFTHSM2_CONF']), { timeout: 1000 });
  afterEach(async () => {
    await probe?.close();
    probe = undefined;
  }, { timeout: 60_000 });
  after(async () => {
    for (const t of tokens) await t.stop();
    const conf = saved.get('SOFTHSM2_CONF');
    if (conf === undefined) delete process.env['SOFTHSM2_CONF'];
    else process.env['SOFTHSM2_CONF'] = conf;
  }, { timeout: 60_000 });

  /** A fresh token with `count` P-256 key pairs made by openssl and imported under the CA label. */
  async function tokenWithImportedKeys(count: number): Promise<TestToken> {
    const token = await startSoftHsmToken({ label: `imported-${count}` });
    tokens.push(token);
    for (let i = 1; i <= count; i++) {
      const key = join(token.dir, `key-${i}.pem`);
      // genpkey writes PKCS#8, the form softhsm2-util imports.
      await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
      await mustRun('softhsm2-util', ['--import', key, '--token', token.token.label, '--label', token.token.key_label, '--id', `0${i}`, '--pin', token.pin], { env: token.env });
    }
    // The module reads SOFTHSM2_CONF at C_Initialize, in this process.
    Object.assign(process.env, token.env);
    return token;
  }

  const refusal = async (token: TestToken): Promise<string> => {
    probe = new Pkcs11Token({ token: token.token, timeoutMs: 10_000, log: captureLog().log });
    const err = await probe.caPublicKey({ create: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof TokenError, `refused with a TokenError: ${String(err)}`);
    assert.equal(err.code, 'FAILED');
    return err.message;
  };

  it('refuses a key imported under the CA label (sensitive, not extractable, but not generated there), and does not make another', async () => {
    const token = await tokenWithImportedKeys(1);
    assert.match(await refusal(token), /was not generated on the token .*imported/);
    const objects = await mustRun('pkcs11-tool', ['--module', token.token.module, '--token-label', token.token.label, '--login', '--pin', token.pin, '--list-objects', '--type', 'privkey'], { env: token.env });
    assert.equal(objects.match(/Private Key Object/g)?.length, 1, `no second key was generated beside it:\n${objects}`);
  });

  it('refuses two private keys under the CA label rather than guess', async () => {
    const token = await tokenWithImportedKeys(2);
    assert.match(await refusal(token), /several private keys labelled "provisioningd-ca"/);
  });
});
