/**
 * The operator CLI as processes: `pnpm -s spdm respond` serves a responder (software P-384 key,
 * one digest and one raw measurement file), `pnpm -s spdm attest` prints the verified report as
 * JSON and exits 0; a wrong root exits 1 with one reason line; a usage mistake exits 64; --help
 * prints the usage on stdout and exits 0, as the daemons do.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pkcs11Token } from '../../src/pki/token/pkcs11-token.ts';
import { captureLog } from '../harness/capture-log.ts';
import { stopProcessGroup } from '../harness/stop-process.ts';
import { runTool } from '../harness/run-tool.ts';
import { startSoftHsmToken, type TestToken } from '../harness/softhsm.ts';
import { createSpdmTestIdentity, type SpdmTestIdentity } from '../harness/spdm-identity.ts';

const REPO = resolve(import.meta.dirname, '../..');

/** `pnpm -s spdm respond ARGS` in its own process group; resolves with the port it prints. */
async function startResponderProcess(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number; stop(): Promise<void> }> {
  let stderr = '';
  const child = spawn('pnpm', ['-s', 'spdm', 'respond', '--port', '0', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, ...env },
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  // pnpm and the node under it: a graceful stop first (the responder closes its token), with a deadline.
  const stop = () => stopProcessGroup(child, 30_000);
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`responder did not start: ${stderr}`)), 60_000);
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolvePort((JSON.parse(out.split('\n')[0] ?? '') as { port: number }).port);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`responder exited ${String(code)}: ${stderr}`));
      });
    });
    return { child, port, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

describe('pnpm -s spdm --help', () => {
  const HELP: ReadonlyArray<{ args: string[]; names: RegExp[] }> = [
    { args: ['--help'], names: [/^ {2}spdm attest --host H --port P --root FILE/m, /^ {2}spdm respond --port P/m] },
    { args: ['-h'], names: [/^ {2}spdm attest --host/m, /^ {2}spdm respond --port/m] },
    { args: ['attest', '--help'], names: [/^ {2}spdm attest --host H --port P --root FILE/m, /prints the verified report as JSON/] },
    { args: ['respond', '--help'], names: [/^ {2}spdm respond --port P .*--chain FILE/m, /serves until SIGTERM/] },
    { args: ['respond', '-h'], names: [/^ {2}spdm respond --port P/m] },
  ];
  for (const { args, names } of HELP) {
    it(`spdm ${args.join(' ')} prints the usage on stdout, nothing on stderr, and exits 0 without doing anything else`, async () => {
      // respond --help must not start serving: it would never exit (runTool's deadline would fail it).
      const r = await runTool('pnpm', ['-s', 'spdm', ...args], { cwd: REPO, timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^usage:\n/);
      for (const name of names) assert.match(r.stdout, name);
      assert.doesNotMatch(r.stdout, /^\{"port":\d+\}$/m, 'it did not start a responder');
    });
  }
});

describe('pnpm -s spdm respond / attest', () => {
  let dir: string;
  let id: SpdmTestIdentity;
  let responder: { stop(): Promise<void> } | undefined;
  let port = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'spdm-cli-'));
    id = await createSpdmTestIdentity({ curve: 'P-384' });
    writeFileSync(join(dir, 'chain.pem'), id.chainPem);
    writeFileSync(join(dir, 'root.pem'), id.rootPem);
    writeFileSync(join(dir, 'key.pem'), id.leafKeyPem ?? '', { mode: 0o600 });
    writeFileSync(join(dir, 'firmware.bin'), 'firmware image');
    writeFileSync(join(dir, 'ca.pem'), 'a CA certificate');
    const other = await createSpdmTestIdentity({ curve: 'P-384' });
    writeFileSync(join(dir, 'other-root.pem'), other.rootPem);
    const started = await startResponderProcess([
      '--chain', join(dir, 'chain.pem'), '--key', join(dir, 'key.pem'), '--measure', join(dir, 'firmware.bin'), '--measure-raw', join(dir, 'ca.pem'),
    ]);
    responder = started;
    port = started.port;
  }, { timeout: 300_000 });

  after(async () => {
    await responder?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, { timeout: 120_000 });

  it('attest prints version, algorithms, the verified chain and the measurements as JSON, exit 0', async () => {
    const r = await runTool('pnpm', ['-s', 'spdm', 'attest', '--host', '127.0.0.1', '--port', String(port), '--root', join(dir, 'root.pem')], { cwd: REPO, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      version: string;
      algorithms: Record<string, string>;
      certificateChain: string[];
      measurements: Array<{ index: number; valueType: number; raw: boolean; value: string }>;
    };
    assert.equal(report.version, '1.2');
    assert.deepEqual(report.algorithms, { baseAsym: 'ECDSA_P384', baseHash: 'SHA_384', measurementHash: 'SHA_256' });
    assert.deepEqual(
      report.certificateChain.map((p) => new X509Certificate(p).raw.toString('hex')),
      id.chain.map((d) => Buffer.from(d).toString('hex')),
    );
    assert.deepEqual(report.measurements, [
      { index: 1, valueType: 1, raw: false, value: createHash('sha256').update('firmware image').digest('hex') },
      { index: 2, valueType: 1, raw: true, value: Buffer.from('a CA certificate').toString('hex') },
    ]);
  });

  it('attest against the wrong root exits 1 with one line naming UNTRUSTED_CHAIN', async () => {
    const r = await runTool('pnpm', ['-s', 'spdm', 'attest', '--host', '127.0.0.1', '--port', String(port), '--root', join(dir, 'other-root.pem')], { cwd: REPO, timeoutMs: 60_000 });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^spdm attest: UNTRUSTED_CHAIN: .+\n$/);
  });

  it('a usage mistake exits 64 with the usage text', async () => {
    const r = await runTool('pnpm', ['-s', 'spdm', 'attest', '--port', String(port)], { cwd: REPO, timeoutMs: 60_000 });
    assert.equal(r.code, 64);
    assert.match(r.stderr, /--host is required/);
  });
});

describe('pnpm -s spdm respond --token-conf (identity key in SoftHSM2)', () => {
  let token: TestToken;
  let dir: string;
  let responder: { port: number; stop(): Promise<void> } | undefined;
  before(async () => {
    token = await startSoftHsmToken({ keyLabel: 'spdm-identity' });
    dir = mkdtempSync(join(tmpdir(), 'spdm-cli-token-'));
    for (const [k, v] of Object.entries(token.env)) process.env[k] = v;
    const p11 = new Pkcs11Token({ token: token.token, timeoutMs: 30_000, log: captureLog().log });
    const { spki } = await p11.caPublicKey({ create: true });
    await p11.close();
    const id = await createSpdmTestIdentity({ curve: 'P-256', leafSpki: spki });
    writeFileSync(join(dir, 'chain.pem'), id.chainPem);
    writeFileSync(join(dir, 'root.pem'), id.rootPem);
    writeFileSync(join(dir, 'token.json'), JSON.stringify(token.token));
    responder = await startResponderProcess(['--chain', join(dir, 'chain.pem'), '--token-conf', join(dir, 'token.json')], token.env);
  }, { timeout: 300_000 });
  after(async () => {
    await responder?.stop();
    await token?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, { timeout: 120_000 });

  it('serves an attestation signed by the token key', async () => {
    const r = await runTool('pnpm', ['-s', 'spdm', 'attest', '--host', '127.0.0.1', '--port', String(responder?.port ?? 0), '--root', join(dir, 'root.pem')], { cwd: REPO, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { algorithms: { baseAsym: string }; measurements: unknown[] };
    assert.equal(report.algorithms.baseAsym, 'ECDSA_P256');
    assert.deepEqual(report.measurements, []);
  });
});
