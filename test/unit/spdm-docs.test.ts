import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';

const read = (path: string) => readFileSync(resolve(import.meta.dirname, '../..', path), 'utf8');

describe('SPDM failure reasons are explained in docs/spdm.md', () => {
  it('each SpdmError code has a row in the requester table', () => {
    const union = /export type SpdmErrorCode =([^;]+);/.exec(read('src/spdm/spdm-error.ts'))?.[1] ?? '';
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1] ?? '');
    assert.ok(codes.length >= 10, `found ${codes.length} codes`);
    const doc = read('docs/spdm.md');
    assert.deepEqual(codes.filter((c) => !doc.includes(`| \`${c}\` |`)), []);
  });
});
