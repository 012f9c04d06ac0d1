// dbus-next's optional usocket (abstract sockets, which this daemon never uses) was never built
// but pulled about 100 packages into production (node-gyp 7, request, tar 6, …). package.json's
// pnpm.overrides removes it; the lockfile must stay free of it and of what it brought.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';

const LOCK = readFileSync(resolve(import.meta.dirname, '../../pnpm-lock.yaml'), 'utf8');
const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {
  pnpm: { overrides?: Record<string, string> };
};

/** The `name@version` entries of the lockfile's packages and snapshots sections. */
const lockedPackages = [...LOCK.matchAll(/^ {2}'?((?:@[^/\s]+\/)?[^@\s']+)@[^:\s]+'?:$/gm)].map((m) => m[1] ?? '');

describe('the lockfile', () => {
  it('reads package entries (the check below sees real ones)', () => {
    assert.ok(lockedPackages.includes('dbus-next'), `parsed ${lockedPackages.length} entries`);
  });

  it('holds no usocket, nor node-gyp, request or tar, which only usocket brought in', () => {
    assert.equal(pkg.pnpm.overrides?.['usocket'], '-', 'package.json removes usocket with a pnpm override');
    assert.deepEqual(lockedPackages.filter((n) => ['usocket', 'node-gyp', 'request', 'tar'].includes(n)), []);
  });
});
