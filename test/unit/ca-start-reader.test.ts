/**
 * The clock watch's floor, asked for every 2 s on the daemon's one thread: self_ca.pem's notBefore;
 * nothing (rather than a daemon frozen for good) when a FIFO or a device stands in its place; a new
 * certificate seen by a later call; and a file whose read hangs never blocks the call.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { caStartReader } from '../../src/pki/certificate/ca-start.ts';
import { eventually } from '../harness/daemon.ts';
import { holdWriteLease } from '../harness/file-lease.ts';
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

  it('sees a new certificate on a later call, and answers at once while the read of the file hangs', async () => {
    const older = await makeTestCa({ dir, stem: 'older', subject: '/CN=older' });
    const olderStart = Date.parse(new X509Certificate(older.pem).validFrom);
    // notBefore has whole seconds: the newer one starts in a later second.
    assert.ok(await eventually(() => Date.now() >= olderStart + 1000, 5000), 'a second went by');
    const newer = await makeTestCa({ dir, stem: 'newer', subject: '/CN=newer' });
    const newerStart = Date.parse(new X509Certificate(newer.pem).validFrom);
    assert.notEqual(olderStart, newerStart);
    const file = join(dir, 'self_ca_rotating.pem');
    copyFileSync(older.certFile, file);
    // Read at creation; not called before the file changes (a call starts a background read).
    const read = caStartReader(file);

    // A new certificate in place, whose open() then hangs (another process holds a write lease on it).
    copyFileSync(newer.certFile, file);
    const lease = await holdWriteLease(file);
    try {
      assert.equal(read(), olderStart, 'answered at once with what was read at creation, not after the read');
      await lease.opened; // the background read is the one waiting in open()
      assert.equal(read(), olderStart, 'still the last value while the read hangs');
    } finally {
      await lease.release();
    }
    assert.ok(await eventually(() => read() === newerStart, 30_000), 'the new certificate is seen once the read ends');
  });
});
