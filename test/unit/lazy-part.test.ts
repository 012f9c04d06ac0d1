import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lazyPart } from '../../src/util/lazy-part.ts';

describe('lazyPart: a part loaded on first use', () => {
  it('loads once for every caller, at once or later', async () => {
    let loads = 0;
    const part = lazyPart(async () => {
      loads++;
      return { name: 'part' };
    });
    const [a, b] = await Promise.all([part(), part()]);
    const c = await part();
    assert.equal(loads, 1);
    assert.ok(a === b && b === c);
  });

  it('tries again after a load that failed, and gives every caller of that load its error', async () => {
    let loads = 0;
    const part = lazyPart(async () => {
      loads++;
      if (loads === 1) throw new Error('ERR_MODULE_NOT_FOUND');
      return loads;
    });
    const failed = await Promise.allSettled([part(), part()]);
    assert.deepEqual(
      failed.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(await part(), 2);
    assert.equal(await part(), 2);
  });
});
