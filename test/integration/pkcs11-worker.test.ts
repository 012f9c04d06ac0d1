/**
 * The PKCS#11 thread (src/pki/token/pkcs11-worker.ts) on a real SoftHSM2 token, spoken to in the
 * messages of src/pki/token/pkcs11-worker-protocol.ts: what it answers to a request it does not
 * know, and to a session that no longer exists after the module was finalised.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import { readPinFile } from '../../src/pki/token/pin-file.ts';
import { tokenErrorOf } from '../../src/pki/token/pkcs11-token-error.ts';
import { type Pkcs11Reply, pkcs11ReadySchema, pkcs11ReplySchema } from '../../src/pki/token/pkcs11-worker-protocol.ts';
import { PKCS11_WORKER } from '../../src/pki/token/pkcs11-module.ts';
import { startModuleWorker } from '../../src/util/module-worker.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { startSoftHsmToken, type TestToken } from '../harness/softhsm.ts';

describe('the PKCS#11 thread', () => {
  let token: TestToken | undefined;
  let worker: Worker | undefined;
  const saved = new Map<string, string | undefined>();

  /** Posts one raw message and returns the thread's parsed reply. */
  async function ask(message: unknown): Promise<Pkcs11Reply> {
    assert.ok(worker);
    const reply = once(worker, 'message');
    worker.postMessage(message);
    const [m] = await withTimeout(reply, 10_000, 'PKCS#11 thread reply');
    return pkcs11ReplySchema.parse(m);
  }

  before(async () => {
    token = await startSoftHsmToken({ label: 'worker' });
    // SoftHSM reads SOFTHSM2_CONF at C_Initialize, in this process's environment.
    for (const [k, v] of Object.entries(token.env)) {
      saved.set(k, process.env[k]);
      process.env[k] = v;
    }
    worker = startModuleWorker({ module: PKCS11_WORKER, workerData: { modulePath: token.token.module } });
    const [first] = await withTimeout(once(worker, 'message'), 30_000, 'PKCS#11 thread start');
    assert.ok(pkcs11ReadySchema.safeParse(first).success, `the thread says it listens first: ${JSON.stringify(first)}`);
  }, { timeout: 300_000 });

  after(async () => {
    await worker?.terminate();
    await token?.stop();
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }, { timeout: 120_000 });

  it('refuses a request it does not know, naming no value (not even a PIN), and keeps serving', async () => {
    const unknown = await ask({ id: 1, request: { op: 'C_DestroyObject', session: 1 } });
    assert.ok(!unknown.ok);
    assert.deepEqual({ id: unknown.id, kind: unknown.failure.kind }, { id: 1, kind: 'protocol' });

    const badLogin = await ask({ id: 2, request: { op: 'login', session: 'first', pin: 'secret-4711' } });
    assert.ok(!badLogin.ok);
    assert.equal(badLogin.failure.kind, 'protocol');
    assert.ok(!JSON.stringify(badLogin).includes('secret-4711'), JSON.stringify(badLogin));

    const noId = await ask('initialize');
    assert.deepEqual({ id: noId.id, ok: noId.ok }, { id: -1, ok: false });

    assert.deepEqual(await ask({ id: 3, request: { op: 'initialize' } }), { id: 3, ok: true, result: null });
    const opened = await ask({ id: 4, request: { op: 'openSession', tokenLabel: 'worker' } });
    assert.ok(opened.ok && typeof opened.result === 'object' && opened.result !== null && 'kind' in opened.result, JSON.stringify(opened));
    assert.equal(opened.result.kind, 'opened');
  });

  it('answers a session from before C_Finalize with CKR_SESSION_HANDLE_INVALID, which the daemon treats as TOKEN_GONE', async () => {
    assert.ok(token);
    const opened = await ask({ id: 10, request: { op: 'openSession', tokenLabel: 'worker' } });
    const result = opened.ok ? opened.result : undefined;
    const session = typeof result === 'object' && result !== null && 'session' in result ? result.session : undefined;
    assert.equal(typeof session, 'number', JSON.stringify(opened));
    const login = await ask({ id: 11, request: { op: 'login', session, pin: readPinFile(token.token.pin_file) } });
    assert.equal(login.ok, true, JSON.stringify(login));

    assert.equal((await ask({ id: 12, request: { op: 'finalize' } })).ok, true);
    const stale = await ask({ id: 13, request: { op: 'findKey', session, keyLabel: 'provisioningd-ca' } });
    assert.ok(!stale.ok);
    assert.deepEqual(stale.failure, { kind: 'pkcs11', ckr: 'CKR_SESSION_HANDLE_INVALID', code: 0xb3, method: '' });
    const err = tokenErrorOf(stale.failure, { modulePath: token.token.module, operation: 'C_FindObjects' });
    assert.equal(err.code, 'TOKEN_GONE');
    assert.match(err.message, /CKR_SESSION_HANDLE_INVALID/);
  });
});
