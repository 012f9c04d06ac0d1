import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { tsFiles } from '../harness/source-files.ts';

const REPO = resolve(import.meta.dirname, '../..');


/**
 * The source with comments and string/template literals blanked (newlines kept, so line numbers
 * stay right). TypeScript 7's compiler has no JS API, so the rules below are lexical.
 */
function code(path: string): string {
  const text = readFileSync(path, 'utf8');
  let out = '';
  for (let i = 0; i < text.length; ) {
    const two = text.slice(i, i + 2);
    const c = text[i] ?? '';
    let end = i + 1;
    if (two === '//') end = text.indexOf('\n', i) === -1 ? text.length : text.indexOf('\n', i);
    else if (two === '/*') end = text.indexOf('*/', i + 2) + 2 || text.length;
    else if (c === "'" || c === '"' || c === '`') {
      end = i + 1;
      while (end < text.length && text[end] !== c) end += text[end] === '\\' ? 2 : 1;
      end += 1;
    } else {
      out += c;
      i = end;
      continue;
    }
    out += text.slice(i, end).replace(/[^\n]/g, ' ');
    i = end;
  }
  return out;
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

function matches(path: string, text: string, re: RegExp, what: string): string[] {
  return [...text.matchAll(re)].map((m) => `${relative(REPO, path)}:${lineOf(text, m.index ?? 0)}: ${what}`);
}

describe('code rules', () => {
  it('machines/ imports nothing but xstate and its own pure modules (what makes model-based tests possible)', () => {
    const offenders: string[] = [];
    for (const file of tsFiles(join(REPO, 'machines'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1] ?? m[2] ?? '';
        const pure = spec === 'xstate' || /^\.\/[\w.-]+$/.test(spec);
        if (!pure) offenders.push(`${relative(REPO, file)}:${lineOf(text, m.index ?? 0)} imports ${spec}`);
      }
      const body = code(file);
      for (const banned of ['process.', 'Date.now', 'Math.random', 'setTimeout', 'setInterval', 'console.', 'require(']) {
        if (body.includes(banned)) offenders.push(`${relative(REPO, file)} uses ${banned}`);
      }
    }
    assert.deepEqual(offenders, []);
  });

  it('src/ has no `any` and no non-null assertion `!`', () => {
    const offenders: string[] = [];
    for (const file of tsFiles(join(REPO, 'src'))) {
      const body = code(file);
      offenders.push(...matches(file, body, /(?::|\bas|<|\||&|,)\s*any\b(?!\w)/g, 'any'));
      offenders.push(...matches(file, body, /\bany\s*\[\]/g, 'any[]'));
      // `x!.y`, `x!)`, `x![0]`, `x!;` … but not `!=` / `!==`.
      offenders.push(...matches(file, body, /[\w)\]]!(?=[.)\],;[]|\s*$)/gm, 'non-null assertion'));
    }
    assert.deepEqual(offenders, []);
  });

  it('the rules above catch what they claim to (checked on samples)', () => {
    const sample = (src: string) => {
      const re = /[\w)\]]!(?=[.)\],;[]|\s*$)/gm;
      return re.test(src);
    };
    assert.equal(sample('const a = b!.c;'), true);
    assert.equal(sample('if (a !== b) f(!c);'), false);
    assert.equal(/(?::|\bas|<|\||&|,)\s*any\b(?!\w)/.test('let x: any = 1'), true);
    assert.equal(/(?::|\bas|<|\||&|,)\s*any\b(?!\w)/.test('anyway(company)'), false);
  });
});
