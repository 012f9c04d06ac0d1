/**
 * readTextWithin on a file whose read never ends (a FIFO nobody writes to, as a disk that hangs):
 * each call fails at its deadline, and calling again (a retry) ties up no more of libuv's threads,
 * so that every other file system call of the process still completes.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readTextWithin } from '../../src/util/read-file-within.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { hangingFile, POOL_SIZE, releaseFifoReaders } from '../harness/stalled-file-system.ts';

const { root, fifo } = hangingFile('read-within-unit-', 'hangs.pem');

describe('readTextWithin', () => {
  it('reads a file', async () => {
    const file = join(root, 'plain.pem');
    writeFileSync(file, 'text\n');
    assert.equal(await readTextWithin(file), 'text\n');
  });

  it('refuses a file larger than maxBytes, naming the limit', async () => {
    const file = join(root, 'large.json');
    writeFileSync(file, 'x'.repeat(1025));
    await assert.rejects(readTextWithin(file, { maxBytes: 1024 }), /^Error: larger than 1024 bytes$/);
    assert.equal(await readTextWithin(file, { maxBytes: 1025 }), 'x'.repeat(1025));
  });

  it('a read that never ends fails at its deadline, each retry too, and the other file system calls still complete', async () => {
    try {
      for (let i = 0; i <= POOL_SIZE; i++) {
        // The read's own deadline answers; the test's only keeps a regression from hanging.
        await assert.rejects(withTimeout(readTextWithin(fifo, { timeoutMs: 100 }), 30_000, 'the test waiting for the read'), (err: Error) => {
          assert.equal(err.name, 'TimeoutError');
          assert.equal(err.message, `reading ${fifo} timed out after 100 ms`);
          return true;
        });
      }
      // More retries than libuv has threads: a read per retry would have stalled them all.
      const other = join(root, 'other.txt');
      writeFileSync(other, 'still readable');
      assert.equal(await withTimeout(readFile(other, 'utf8'), 30_000, 'another file read while one hangs'), 'still readable');
    } finally {
      releaseFifoReaders(fifo);
    }
  });
});
