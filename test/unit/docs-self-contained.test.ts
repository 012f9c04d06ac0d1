// Every contract the code and docs rely on is written down in this repository (docs/, README.md);
// no file may send its reader to a document outside it, which a reader of a checkout cannot open.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const REPO = resolve(import.meta.dirname, '../..');
const THIS_FILE = relative(REPO, import.meta.filename);

/** What the project writes: sources, tests, scripts, docs, service files (not dependencies or build output). */
const ROOTS = ['src', 'machines', 'test', 'bench', 'scripts', 'docs', 'service', '.ci', 'README.md', 'package.json', 'biome.json', 'tsconfig.json'];
const TEXT = /\.(ts|mts|mjs|js|cjs|json|md|sh|conf|service|txt|mmd)$|^run$/;

/** References to documents that live outside the repository. */
const OUTSIDE = [
  { what: 'the design contracts file', re: /contracts\.md/ },
  { what: 'the platform notes', re: /platform-notes/ },
  { what: 'a shared folder outside the repository', re: /\.\.\/shared\b/ },
  { what: 'an absolute path of the build machine', re: /\/work\/(?:wt|main|shared)\b/ },
  { what: 'a design card', re: /design card/i },
];

function files(path: string): string[] {
  const abs = join(REPO, path);
  if (statSync(abs, { throwIfNoEntry: false }) === undefined) return [];
  if (!statSync(abs).isDirectory()) return TEXT.test(path.split('/').at(-1) ?? '') ? [path] : [];
  return readdirSync(abs).flatMap((name) => files(join(path, name)));
}

describe('the repository is self-contained', () => {
  it('no file refers to a document outside the repository', () => {
    const offenders: string[] = [];
    for (const file of ROOTS.flatMap(files)) {
      if (file === THIS_FILE) continue;
      const lines = readFileSync(join(REPO, file), 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const { what, re } of OUTSIDE) if (re.test(line)) offenders.push(`${file}:${i + 1}: ${what}`);
      });
    }
    assert.deepEqual(offenders, []);
  });
});
