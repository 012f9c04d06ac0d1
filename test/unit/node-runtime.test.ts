// The project runs on the Node that package.json's `engines` names (the bundles target it too):
// the test process itself, and the `node` on PATH, which pnpm's scripts, tsx and every
// `#!/usr/bin/env node` (pnpm, the demo) run on. scripts/bootstrap.sh installs the version pinned in
// .node-version and puts it first in PATH.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';

const REPO = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(resolve(REPO, 'package.json'), 'utf8')) as { engines: { node: string } };
const minimumMajor = Number(/^>=(\d+)$/.exec(pkg.engines.node)?.[1]);
const major = (version: string) => Number(/^v?(\d+)\./.exec(version)?.[1]);

describe('the Node the project runs on', () => {
  it('engines names a minimum major version, and the version bootstrap pins satisfies it', () => {
    assert.ok(minimumMajor >= 22, `engines.node is ${pkg.engines.node}`);
    const pinned = readFileSync(resolve(REPO, '.node-version'), 'utf8').trim();
    assert.match(pinned, /^\d+\.\d+\.\d+$/, '.node-version holds one exact version');
    assert.ok(major(pinned) >= minimumMajor, `.node-version ${pinned} does not satisfy engines ${pkg.engines.node}`);
  });

  it('the tests run on it', () => {
    assert.ok(major(process.version) >= minimumMajor, `running on Node ${process.version}, engines wants ${pkg.engines.node}`);
  });

  it('so does the node on PATH, which pnpm scripts, tsx and the demo run on', () => {
    const onPath = execFileSync('node', ['--version'], { encoding: 'utf8', timeout: 30_000 }).trim();
    assert.ok(major(onPath) >= minimumMajor, `node on PATH is ${onPath}, engines wants ${pkg.engines.node}`);
  });
});
