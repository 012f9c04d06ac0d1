/**
 * The clock watch's floor, read from self_ca.pem every 2 s on the daemon's one thread: the CA
 * certificate's notBefore, and nothing (rather than a daemon frozen for good) when a FIFO or a
 * device stands in its place.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { caStartReader } from '../../src/pki/certificate/ca-start.ts';
import { makeTestCa } from '../harness/openssl-test-ca.ts';
import { runTool } from '../harness/run-tool.ts';
import { makeFifo } from '../harness/stalled-file-system.ts';

const dir = mkdtempSync(join(tmpdir(), 'ca-start-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 60_000 });

/** caStartReader(file)() in a process of its own: a read that blocks its thread cannot hold the test's. */
async function startInOwnProcess(file: string): Promise<string> {
  const module = pathToFileURL(resolve(import.meta.dirname, '../../src/pki/certificate/ca-start.ts')).href;
  const program = `import { caStartReader } from ${JSON.stringify(module)}; process.stdout.write(String(caStartReader(${JSON.stringify(file)})()));`;
  const r = await runTool(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `the reader ended by itself: ${r.stderr}`);
  return r.stdout;
}

describe('caStartReader', () => {
  it("is the CA certificate's notBefore", async () => {
    const ca = await makeTestCa({ dir, stem: 'self_ca', subject: '/CN=bmc-a Provisioning CA' });
    assert.equal(caStartReader(ca.certFile)(), Date.parse(new X509Certificate(ca.pem).validFrom));
  });

  it('is nothing, at once, for a FIFO or a device in the place of self_ca.pem', async () => {
    const fifo = join(dir, 'fifo.pem');
    makeFifo(fifo);
    assert.equal(await startInOwnProcess(fifo), 'undefined');
    assert.equal(await startInOwnProcess('/dev/zero'), 'undefined');
    assert.equal(caStartReader(join(dir, 'missing.pem'))(), undefined);
  });
});
