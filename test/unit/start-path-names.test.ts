// scripts/start-path-names.mjs on real esbuild output (split ESM, minified, keepNames, as
// scripts/build.mjs builds): the code loaded at start runs the same without its function names,
// the code loaded later with import() keeps them, and the source maps still point where they did.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { build, type Metafile } from 'esbuild';
import { applyEdits, shiftMap, type SourceMapJson } from '../../scripts/eager-module-wrappers.mjs';
import { startPath } from '../../scripts/output-graph.mjs';
import { NAME_READERS, nameHelperEdits, nameHelperExport, nameReadersAtStart } from '../../scripts/start-path-names.mjs';

const dir = mkdtempSync(join(tmpdir(), 'start-path-names-'));
/** Each output file (path relative to `dir`, as the metafile names it) with its source map. */
let files: Map<string, { code: string; map: SourceMapJson }>;
let metafile: Metafile;

/**
 * An entry that loads a module statically (a class and a function, both renamed by the minifier)
 * and, when asked, one with import() whose code reads a class name, as @peculiar/asn1-schema does.
 */
before(
  async () => {
    writeFileSync(join(dir, 'shared.mjs'), `export class TrustStore { size() { return 3; } }\nexport function describeStore(s) { return 'store of ' + s.size(); }\n`);
    writeFileSync(
      join(dir, 'later.mjs'),
      `import { describeStore } from './shared.mjs';\nclass Sequence { size() { return 1; } }\nexport function parse() { const items = [new Sequence()]; return { sequence: items[0].constructor.name === 'Sequence', text: describeStore(items[0]) }; }\n`,
    );
    writeFileSync(
      join(dir, 'entry.mjs'),
      `import { TrustStore, describeStore } from './shared.mjs';\nexport const text = describeStore(new TrustStore());\nexport const names = [TrustStore.name, describeStore.name];\nexport const later = () => import('./later.mjs').then((m) => m.parse());\n`,
    );
    // A second program, which shares only esbuild's helpers with the first: they get a chunk of
    // their own, as in the daemons' build.
    writeFileSync(join(dir, 'other.mjs'), `export function other() { return 'other'; }\n`);
    const result = await build({
      absWorkingDir: dir,
      entryPoints: ['entry.mjs', 'other.mjs'],
      outdir: 'out',
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      minify: true,
      keepNames: true,
      sourcemap: 'linked',
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
    metafile = result.metafile;
    files = new Map();
    for (const f of result.outputFiles) {
      if (!f.path.endsWith('.js')) continue;
      const map = result.outputFiles.find((m) => m.path === `${f.path}.map`);
      if (!map) throw new Error(`no source map for ${f.path}`);
      files.set(relative(dir, f.path), { code: f.text, map: JSON.parse(map.text) as SourceMapJson });
    }
  },
  { timeout: 30_000 },
);
after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 10_000 });

/** Writes the output files under `dir/name` (a module package); the URL of the entry. */
function writeOut(name: string, set: ReadonlyMap<string, { code: string }>): string {
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, 'package.json'), '{"type":"module"}');
  for (const [path, file] of set) {
    const target = join(dir, name, relative('out', path));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.code);
  }
  return pathToFileURL(join(dir, name, 'entry.js')).href;
}

/** The build with the start path's files rewritten, written out under `name`; the URL of its entry. */
function writeRewritten(name: string): { entry: string; rewritten: Map<string, { code: string; map: SourceMapJson }> } {
  const helper = [...files].map(([path, f]) => ({ path, exportName: nameHelperExport(f.code) })).find((h) => h.exportName);
  if (!helper?.exportName) throw new Error('no file exports the __name helper');
  const atStart = startPath(metafile, ['out/entry.js']);
  const rewritten = new Map<string, { code: string; map: SourceMapJson }>();
  for (const [path, f] of files) {
    const edits = atStart.has(path) ? nameHelperEdits(f.code, { runtimeFile: helper.path.split('/').at(-1) ?? '', exportName: helper.exportName }) : [];
    const file = { code: applyEdits(f.code, edits), map: shiftMap(f.map, f.code, edits) };
    rewritten.set(path, file);
  }
  return { entry: writeOut(name, rewritten), rewritten };
}

interface Entry {
  text: string;
  names: string[];
  later(): Promise<{ sequence: boolean; text: string }>;
}

describe('no function names in the code loaded at start', () => {
  it('finds what the entry loads at start, and the helper esbuild exports', () => {
    const atStart = startPath(metafile, ['out/entry.js']);
    assert.ok(atStart.has('out/entry.js'));
    const later = [...files.keys()].find((p) => files.get(p)?.code.includes('Sequence'));
    assert.ok(later && !atStart.has(later), `the chunk loaded with import() (${later}) is not on the start path`);
    assert.equal([...files.values()].filter((f) => nameHelperExport(f.code)).length, 1, 'one file exports __name');
  });

  it('runs the same, with the names gone at start and kept in what import() loads', async () => {
    const original = (await import(writeOut('original', files))) as Entry;
    // The build as esbuild wrote it (for the comparison): every name kept.
    assert.deepEqual(original.names, ['TrustStore', 'describeStore']);
    const { entry } = writeRewritten('rewritten');
    const rewritten = (await import(entry)) as Entry;
    assert.equal(rewritten.text, original.text);
    assert.equal(rewritten.text, 'store of 3');
    assert.notDeepEqual(rewritten.names, ['TrustStore', 'describeStore'], 'the start path no longer runs the helper');
    // The chunk loaded later still names its classes: a parser comparing constructor names works.
    assert.deepEqual(await rewritten.later(), { sequence: true, text: 'store of 1' });
  });

  it('keeps the source maps true: every token maps to where it mapped before', () => {
    const { rewritten } = writeRewritten('mapped');
    for (const [path, before] of files) {
      const afterFile = rewritten.get(path);
      if (!afterFile || afterFile.code === before.code) continue;
      const a = new SourceMap(before.map as never);
      const b = new SourceMap(afterFile.map as never);
      for (const token of ['store of ', 'size()', '.size(']) {
        const was = before.code.indexOf(token);
        if (was < 0) continue;
        const now = afterFile.code.indexOf(token);
        const at = (code: string, i: number) => ({ line: code.slice(0, i).split('\n').length - 1, column: i - (code.lastIndexOf('\n', i - 1) + 1) });
        const e1 = a.findEntry(at(before.code, was).line, at(before.code, was).column);
        const e2 = b.findEntry(at(afterFile.code, now).line, at(afterFile.code, now).column);
        assert.ok('originalLine' in e1 && 'originalLine' in e2, `${token} in ${path} is mapped`);
        assert.deepEqual({ line: e2.originalLine, column: e2.originalColumn }, { line: e1.originalLine, column: e1.originalColumn }, `${token} in ${path}`);
      }
    }
  });

  it('finds code that reads names on the start path, which the build refuses, and none in what only import() loads', () => {
    const atStart = startPath(metafile, ['out/entry.js']);
    // later.mjs reads a class name, but only import() loads it: nothing to refuse.
    assert.deepEqual(nameReadersAtStart(metafile, atStart, [/(^|\/)later\.mjs$/]), []);
    // Were shared.mjs a reader, the start path holds it: the build would stop and name it.
    const found = nameReadersAtStart(metafile, atStart, [/(^|\/)shared\.mjs$/]);
    assert.equal(found.length, 1);
    assert.equal(found[0]?.input, 'shared.mjs');
    assert.ok(found[0] && atStart.has(found[0].output), found[0]?.output);
    // The build's own list recognises the paths the packages have in a pnpm tree.
    const pnpmPath = 'node_modules/.pnpm/@peculiar+asn1-schema@2.11.1/node_modules/@peculiar/asn1-schema/build/cjs/parser.js';
    for (const path of [pnpmPath, 'node_modules/.pnpm/prom-client@15.1.3/node_modules/prom-client/lib/registry.js', 'src/inspect/inspector.ts']) {
      assert.ok(NAME_READERS.some((r) => r.test(path)), path);
    }
    assert.ok(!NAME_READERS.some((r) => r.test('src/dbus/names.ts')));
  });

  it('rewrites an import of the helper alone and one among others', () => {
    const helper = { runtimeFile: 'chunk-R.js', exportName: 'a' };
    const alone = 'import{a as o}from"./chunk-R.js";var x=o(function(){},"x");';
    assert.equal(applyEdits(alone, nameHelperEdits(alone, helper)), 'import"./chunk-R.js";function o(f){return f}var x=o(function(){},"x");');
    const among = 'import{c as k,a as o,b as j}from"./chunk-R.js";import{a as z}from"./other.js";o(k,"k");';
    assert.equal(applyEdits(among, nameHelperEdits(among, helper)), 'import{c as k,b as j}from"./chunk-R.js";function o(f){return f}import{a as z}from"./other.js";o(k,"k");');
    const last = 'import{b as j,a as o}from"./chunk-R.js";';
    assert.equal(applyEdits(last, nameHelperEdits(last, helper)), 'import{b as j}from"./chunk-R.js";function o(f){return f}');
  });
});
