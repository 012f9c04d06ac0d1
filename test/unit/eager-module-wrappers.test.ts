// scripts/eager-module-wrappers.mjs on real esbuild output: the rewritten bundle runs the same, its
// source map still points every token where it pointed, and V8 compiles the module wrappers with
// the script (what puts them into the compile cache).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { applyEdits, eagerModuleWrappers, shiftMap, wrapperEdits, type SourceMapJson } from '../../scripts/eager-module-wrappers.mjs';

const dir = mkdtempSync(join(tmpdir(), 'eager-wrappers-'));
let bundled: { code: string; map: SourceMapJson };

/** A CommonJS dependency (wrapped by esbuild in `__commonJS`), one that uses top-level `this`, and an entry that prints what they export. */
before(
  async () => {
    writeFileSync(join(dir, 'dep.cjs'), `function shout(s) { return s.toUpperCase() + '!'; }\nmodule.exports = { greet: (n) => shout('hello ' + n), marker: 'marker-in-dep' };\n`);
    writeFileSync(join(dir, 'this-dep.cjs'), `module.exports.same = this === module.exports || this === undefined;\n`);
    writeFileSync(join(dir, 'entry.mjs'), `import dep from './dep.cjs';\nimport t from './this-dep.cjs';\nglobalThis.__out = dep.greet('rack') + ' ' + dep.marker + ' ' + String(t.same);\n`);
    const result = await build({ entryPoints: [join(dir, 'entry.mjs')], bundle: true, format: 'esm', platform: 'node', minify: true, sourcemap: 'external', outdir: join(dir, 'out'), write: false, logLevel: 'silent' });
    const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
    const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'));
    if (!js || !map) throw new Error('esbuild wrote no bundle');
    bundled = { code: js.text, map: JSON.parse(map.text) as SourceMapJson };
  },
  { timeout: 30_000 },
);
after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 10_000 });

/** What the bundle sets when run as a script (it has no import or export statements). */
function run(code: string): unknown {
  const g = globalThis as { __out?: unknown };
  delete g.__out;
  new Script(code).runInThisContext();
  return g.__out;
}

describe('eager module wrappers', () => {
  it('rewrites the wrapper of a CommonJS module into a parenthesised function, and the bundle runs the same', () => {
    const out = eagerModuleWrappers(bundled);
    assert.ok(out.wrappers >= 1, `rewrote ${out.wrappers}`);
    assert.match(out.code, /\(\(function\([\w$]+,[\w$]+\)\{/);
    assert.equal(run(out.code), run(bundled.code));
    assert.equal(run(out.code), 'HELLO RACK! marker-in-dep true');
  });

  it('leaves a wrapper whose own body uses this as an arrow', () => {
    const code = 'var a=H((e,t)=>{t.exports=this}),b=H((e,t)=>{t.exports=function(){return this}});';
    const edits = wrapperEdits(code);
    assert.equal(applyEdits(code, edits), 'var a=H((e,t)=>{t.exports=this}),b=H((function(e,t){t.exports=function(){return this}}));');
  });

  it('handles a lone parameter without parentheses and a wrapper with none', () => {
    const code = 'var a=H(e=>{e.x=1}),b=H(()=>{go()});';
    assert.equal(applyEdits(code, wrapperEdits(code)), 'var a=H((function(e){e.x=1})),b=H((function(){go()}));');
  });

  it('keeps the source map true: every token maps to where it mapped before', () => {
    const out = eagerModuleWrappers(bundled);
    const before = new SourceMap(bundled.map as never);
    const afterMap = new SourceMap(out.map as never);
    /** Line and column (0-based) of an offset. */
    const position = (code: string, at: number) => {
      const head = code.slice(0, at);
      return { line: head.split('\n').length - 1, column: at - (head.lastIndexOf('\n') + 1) };
    };
    // Tokens after the first rewrite: the string and the function name of the dependency.
    for (const token of ["'marker-in-dep'", '"marker-in-dep"', '.toUpperCase', 'hello ']) {
      const was = bundled.code.indexOf(token);
      if (was < 0) continue;
      const now = out.code.indexOf(token);
      const a = position(bundled.code, was);
      const b = position(out.code, now);
      assert.notEqual(b.column, a.column, 'the token moved: the check below means something');
      const e1 = before.findEntry(a.line, a.column);
      const e2 = afterMap.findEntry(b.line, b.column);
      assert.ok('originalLine' in e1 && 'originalLine' in e2, `${token} is mapped`);
      assert.deepEqual(
        { source: e2.originalSource, line: e2.originalLine, column: e2.originalColumn },
        { source: e1.originalSource, line: e1.originalLine, column: e1.originalColumn },
        token,
      );
    }
    assert.equal(shiftMap(bundled.map, bundled.code, []).mappings, bundled.map.mappings);
  });

  it('makes V8 compile the wrappers with the script (its code cache grows)', () => {
    const out = eagerModuleWrappers(bundled);
    // A source never compiled in this process (V8 reuses what it compiled for the same text, run or not).
    let fresh = 0;
    const cacheBytes = (code: string) => new Script(`${code}\n// ${++fresh} ${process.hrtime.bigint()}`).createCachedData().length;
    assert.ok(cacheBytes(out.code) > cacheBytes(bundled.code), `${cacheBytes(out.code)} > ${cacheBytes(bundled.code)}`);
  });
});
