import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';

const read = (path: string) => readFileSync(resolve(import.meta.dirname, '../..', path), 'utf8');

describe('every error an operator can meet is explained in docs/', () => {
  it('each TokenError code has a row in docs/tokens.md and is named in docs/operations.md', () => {
    const union = /export type TokenErrorCode =([^;]+);/.exec(read('src/pki/token/token-error.ts'))?.[1] ?? '';
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1] ?? '');
    assert.ok(codes.length >= 10, `found ${codes.length} codes`);
    const tokens = read('docs/tokens.md');
    const operations = read('docs/operations.md');
    assert.deepEqual(codes.filter((c) => !tokens.includes(`| \`${c}\` |`)), [], 'codes without a row in docs/tokens.md');
    assert.deepEqual(codes.filter((c) => c !== 'FAILED' && !operations.includes(`\`${c}\``)), [], 'codes not named in docs/operations.md');
  });

  it('each exit status of src/main.ts is in the table of docs/operations.md', () => {
    const main = read('src/main.ts') + read('src/service-main.ts') + read('src/config/load-config.ts');
    const statuses = [...main.matchAll(/const EX_\w+ = (\d+);/g)].map((m) => m[1] ?? '');
    assert.deepEqual(statuses.sort(), ['64', '69', '70', '78']);
    const operations = read('docs/operations.md');
    assert.deepEqual(statuses.filter((s) => !new RegExp(`^\\| ${s} \\|`, 'm').test(operations)), []);
  });
});
