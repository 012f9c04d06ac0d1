/**
 * self_ca.pem is read before every issuance that needs the CA: on a disk that hangs that read has a
 * deadline, and a read that did not finish fails the issuance (TIMEOUT) instead of stalling it for
 * ever or being taken for a missing file (which would sign a new CA certificate).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureCaCertificate, type CaCertificateRequest } from '../../src/pki/issuance/index.ts';
import { SoftwareToken } from '../../src/pki/token/software-token.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { captureLog } from '../harness/capture-log.ts';
import { stallFileSystem } from '../harness/stalled-file-system.ts';

describe('reading self_ca.pem on a disk that hangs', () => {
  let work: string;
  let token: SoftwareToken;
  let request: CaCertificateRequest;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'ca-certificate-read-'));
    const log = captureLog().log;
    token = new SoftwareToken({ stateDir: join(work, 'state'), timeoutMs: 10_000, log });
    const { spki } = await token.caPublicKey({ create: true });
    request = { token, spki, bmcName: 'bmc-a', lifetimeDays: 30, minRemainingMs: 60_000, file: join(work, 'self_ca.pem'), log };
  }, { timeout: 60_000 });

  after(async () => {
    await token.close();
    rmSync(work, { recursive: true, force: true });
  }, { timeout: 60_000 });

  it('fails with a TimeoutError naming the file at its deadline, and does not sign a new CA certificate', async () => {
    const first = await ensureCaCertificate(request);
    const written = readFileSync(request.file, 'utf8');
    assert.equal(written, first.pem);
    const release = await stallFileSystem(join(work, 'fifos'));
    try {
      // The read's own deadline answers; the test's only keeps a regression from hanging.
      await assert.rejects(withTimeout(ensureCaCertificate({ ...request, readTimeoutMs: 500 }), 30_000, 'the test waiting for the CA'), (err: Error) => {
        assert.equal(err.name, 'TimeoutError');
        assert.equal(err.message, `reading ${request.file} timed out after 500 ms`);
        return true;
      });
    } finally {
      await release();
    }
    // Once the disk answers again, the certificate on it is the one in use.
    const again = await ensureCaCertificate(request);
    assert.equal(again.fingerprint, first.fingerprint, 'the CA certificate on disk is still the one in use');
    assert.equal(readFileSync(request.file, 'utf8'), written);
  });
});
