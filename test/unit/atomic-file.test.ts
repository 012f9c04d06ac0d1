import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startAtomicWrite } from '../../src/util/atomic-file.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { stallFileSystem } from '../harness/stalled-file-system.ts';

const root = mkdtempSync(join(tmpdir(), 'atomic-unit-'));
after(() => rmSync(root, { recursive: true, force: true }), { timeout: 60_000 });

describe('atomic file writes on a disk that hangs', () => {
  it('a write past its deadline rejects with a TimeoutError naming the file, and never lands afterwards', async () => {
    const file = join(root, 'data.json');
    writeFileSync(file, 'old\n');
    const release = await stallFileSystem(join(root, 'fifos'));
    let run: ReturnType<typeof startAtomicWrite> | undefined;
    try {
      run = startAtomicWrite({ path: file, data: 'late\n', mode: 0o600, timeoutMs: 500 });
      // The write's own deadline answers; the test's only keeps a regression from hanging.
      await assert.rejects(withTimeout(run.done, 30_000, 'the test waiting for the write'), (err: Error) => {
        assert.equal(err.name, 'TimeoutError');
        assert.equal(err.message, `writing ${file} timed out after 500 ms`);
        return true;
      });
    } finally {
      await release();
    }
    await withTimeout(run.settled, 30_000, 'the stalled write ending');
    assert.equal(readFileSync(file, 'utf8'), 'old\n', 'the caller was told it failed: the old file stays');
    assert.deepEqual(readdirSync(root).sort(), ['data.json', 'fifos'], 'no temp file left behind');
  });
});
