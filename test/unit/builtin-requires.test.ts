// scripts/builtin-requires.mjs: built-in imports of the code loaded at start become require() calls
// (the bundle's own require, build.mjs's banner); the code runs the same and loads fewer of Node's
// modules (the ES module facade of a built-in reads every export, lazy ones included).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { build } from 'esbuild';
import { builtinRequireEdits } from '../../scripts/builtin-requires.mjs';
import { applyEdits } from '../../scripts/eager-module-wrappers.mjs';
import { runTool } from '../harness/run-tool.ts';

const dir = mkdtempSync(join(tmpdir(), 'builtin-requires-'));
after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 10_000 });

const rewrite = (code: string) => applyEdits(code, builtinRequireEdits(code));

describe('built-in imports taken with require()', () => {
  it('turns named, renamed, default and namespace imports into constants, and leaves node:module and bare imports', () => {
    assert.equal(rewrite('import{readFileSync as r,statSync}from"node:fs";r();'), 'const {readFileSync:r,statSync}=require("node:fs");r();');
    assert.equal(rewrite('import c,{randomUUID as u}from"node:crypto";'), 'const c=require("node:crypto"),{randomUUID:u}=require("node:crypto");');
    assert.equal(rewrite('import*as p from"node:path";'), 'const p=require("node:path");');
    const kept = 'import{createRequire as m}from"node:module";import"node:net";import{a as b}from"./chunk-A.js";';
    assert.equal(rewrite(kept), kept);
  });

  it('runs the same and no longer loads what the facades read (WebCrypto, fs/promises)', async () => {
    writeFileSync(
      join(dir, 'entry.mjs'),
      [
        "import { createHash } from 'node:crypto';",
        "import { existsSync } from 'node:fs';",
        "import path from 'node:path';",
        "process.stdout.write(JSON.stringify({ hash: createHash('sha256').update('x').digest('hex').slice(0, 8), exists: existsSync(import.meta.dirname), base: path.basename('/a/b.txt'), loaded: process.moduleLoadList.filter((m) => /webcrypto|internal\\/fs\\/promises$/.test(m)) }));",
      ].join('\n'),
    );
    const result = await build({
      entryPoints: [join(dir, 'entry.mjs')],
      bundle: true,
      format: 'esm',
      platform: 'node',
      minify: true,
      banner: { js: "import { createRequire as __c } from 'node:module';\nconst require = __c(import.meta.url);" },
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]?.text ?? '';
    writeFileSync(join(dir, 'as-built.mjs'), code);
    writeFileSync(join(dir, 'rewritten.mjs'), rewrite(code));
    const run = async (file: string) => {
      const r = await runTool(process.execPath, [join(dir, file)], { cwd: dir, timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { hash: string; exists: boolean; base: string; loaded: string[] };
    };
    const before = await run('as-built.mjs');
    const afterRewrite = await run('rewritten.mjs');
    assert.deepEqual({ ...afterRewrite, loaded: [] }, { hash: '2d711642', exists: true, base: 'b.txt', loaded: [] });
    assert.deepEqual({ ...before, loaded: [] }, { ...afterRewrite, loaded: [] });
    assert.ok(before.loaded.length >= 2, `the facades load WebCrypto and fs/promises: ${before.loaded.join(', ')}`);
    assert.deepEqual(afterRewrite.loaded, []);
  });
});
