/**
 * The operator CLI as processes: `pnpm -s spdm respond` serves a responder (software P-384 key,
 * one digest and one raw measurement file), `pnpm -s spdm attest` prints the verified report as
 * JSON and exits 0; a wrong root exits 1 with one reason line; a usage mistake exits 64.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTool } from '../harness/run-tool.ts';
import { createSpdmTestIdentity, type SpdmTestIdentity } from '../harness/spdm-identity.ts';

const REPO = resolve(import.meta.dirname, '../..');

describe('pnpm -s spdm respond / attest', () => {
  let dir: string;
  let id: SpdmTestIdentity;
  let responder: ChildProcess | undefined;
  let port = 0;
  let stderr = '';

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
    // Its own process group, so that SIGTERM reaches pnpm and the node process it runs.
    const child = spawn(
      'pnpm',
      ['-s', 'spdm', 'respond', '--port', '0', '--chain', join(dir, 'chain.pem'), '--key', join(dir, 'key.pem'),
        '--measure', join(dir, 'firmware.bin'), '--measure-raw', join(dir, 'ca.pem')],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    responder = child;
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    port = await new Promise<number>((resolvePort, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`responder did not start: ${stderr}`)), 60_000);
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n')[0] ?? '';
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolvePort((JSON.parse(line) as { port: number }).port);
        }
      });
      child.once('exit', (code) => reject(new Error(`responder exited ${String(code)}: ${stderr}`)));
    });
  });

  after(async () => {
    const child = responder;
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid, 'SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

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
