/**
 * The responder's measurement blocks, read afresh for every GET_MEASUREMENTS (anybody on the
 * segment may ask): a measured file whose read never ends (a FIFO nobody writes, as on a disk that
 * hangs) is left out at its deadline with MEASUREMENT_UNREADABLE, and asking again and again ties up
 * no more of libuv's threads, so the other files are still measured.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { measurementBlocks } from '../../src/attestationd/measurement-blocks.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { captureLog } from '../harness/capture-log.ts';
import { hangingFile, POOL_SIZE, releaseFifoReaders } from '../harness/stalled-file-system.ts';

const { root, fifo } = hangingFile('measurement-blocks-unit-', 'hangs.conf');

describe('measurementBlocks', () => {
  it('leaves out a file whose read never ends, each time it is asked, and still measures the others', async () => {
    const firmware = join(root, 'firmware.bin');
    writeFileSync(firmware, 'firmware image');
    const captured = captureLog();
    const sources = {
      files: [
        { index: 1, file: firmware, kind: 'firmware' as const },
        { index: 2, file: fifo, kind: 'configuration' as const },
      ],
      provisioningCaFile: join(root, 'self_ca.pem'),
      log: captured.log,
      // Long enough for the firmware file's read on a loaded machine (it has the same deadline).
      readTimeoutMs: 1_000,
    };
    try {
      for (let i = 0; i <= POOL_SIZE; i++) {
        // The reads' own deadlines answer; the test's only keeps a regression from hanging.
        const blocks = await withTimeout(measurementBlocks(sources), 30_000, `GET_MEASUREMENTS ${i + 1}`);
        assert.deepEqual(
          blocks.map((b) => [b.index, Buffer.from(b.value).toString('hex')]),
          [[1, createHash('sha256').update('firmware image').digest('hex')]],
          `request ${i + 1}: the firmware block only`,
        );
      }
    } finally {
      releaseFifoReaders(fifo);
    }
    const unreadable = captured.records().filter((r) => r['code'] === 'MEASUREMENT_UNREADABLE');
    assert.equal(unreadable.length, POOL_SIZE + 1);
    assert.equal(unreadable[0]?.['message'], `measurement 2: cannot read ${fifo}: reading ${fifo} timed out after 1000 ms`);
  });
});
