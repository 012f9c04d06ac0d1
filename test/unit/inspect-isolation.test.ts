// With inspect_port 0 nothing of the inspector may be loaded: src/inspect/ is reached only through
// the daemon's one dynamic import() (src/inspector-part.ts, which runs without it when the
// package's inspector part is not installed). The layout engine is never loaded on the main thread at all:
// its own thread requires it when a page asks for a chart (src/inspect/elk-layout-thread.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { tsFiles } from '../harness/source-files.ts';

const REPO = resolve(import.meta.dirname, '../..');


/** One module reference of a file: what it names, and how (type-only imports load nothing). */
interface ModuleRef {
  readonly spec: string;
  readonly dynamic: boolean;
  readonly typeOnly: boolean;
}

function specifiers(text: string): ModuleRef[] {
  const out: ModuleRef[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*((?:import|export)\s[^'"]*?)from\s+['"]([^'"]+)['"]/g)) {
    out.push({ spec: m[2] ?? '', dynamic: false, typeOnly: /^(?:import|export)\s+type\s/.test(m[1] ?? '') });
  }
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) out.push({ spec: m[1] ?? '', dynamic: false, typeOnly: false });
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1] ?? '', dynamic: true, typeOnly: false });
  return out;
}

describe('the inspector costs nothing when it is off', () => {
  it('src/ outside src/inspect/ reaches it only through a dynamic import() of inspector.ts', () => {
    const offenders: string[] = [];
    const dynamicImports: string[] = [];
    for (const file of tsFiles(join(REPO, 'src'))) {
      const rel = relative(REPO, file);
      if (rel.startsWith('src/inspect/')) continue;
      for (const { spec, dynamic } of specifiers(readFileSync(file, 'utf8'))) {
        if (!/(^|\/)inspect\//.test(spec) && !spec.startsWith('elkjs') && !spec.startsWith('@statelyai/')) continue;
        if (dynamic && spec === './inspect/inspector.ts') dynamicImports.push(rel);
        else offenders.push(`${rel} imports ${spec}${dynamic ? ' (dynamic)' : ''}`);
      }
    }
    assert.deepEqual(offenders, []);
    assert.deepEqual(dynamicImports, ['src/inspector-part.ts'], 'the daemon loads the inspector on demand (loadInspector)');
  });

  it('src/inspect/ imports only the types of elkjs (its thread loads it), and never @statelyai/inspect', () => {
    const offenders: string[] = [];
    for (const file of tsFiles(join(REPO, 'src/inspect'))) {
      const rel = relative(REPO, file);
      for (const { spec, dynamic, typeOnly } of specifiers(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('@statelyai/')) offenders.push(`${rel} imports ${spec}`);
        if (spec.startsWith('elkjs') && !typeOnly) offenders.push(`${rel} imports ${spec}${dynamic ? ' (dynamic)' : ''} on the main thread`);
      }
    }
    assert.deepEqual(offenders, []);
  });
});
