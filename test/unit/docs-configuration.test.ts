import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { configSchema, knownKeys } from '../../src/config/schema.ts';
import { undocumentedLimits } from '../harness/documented-limits.ts';

const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/configuration.md'), 'utf8');

/** `| \`key\` | default | meaning |` rows of the reference tables, by key. */
function documentedDefaults(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of DOC.matchAll(/^\| `([\w.]+)` \| ([^|]+) \|/gm)) rows.set(m[1] ?? '', (m[2] ?? '').trim());
  return rows;
}

describe('docs/configuration.md describes the schema', () => {
  const rows = documentedDefaults();
  const defaults = configSchema.parse({}) as Record<string, unknown>;

  it('documents every key the daemon knows, and no key it does not', () => {
    const keys = [...knownKeys.top, ...[...knownKeys.token].map((k) => `token.${k}`)].sort();
    assert.deepEqual(keys.filter((k) => !rows.has(k)), [], 'keys missing from docs/configuration.md');
    assert.deepEqual([...rows.keys()].filter((k) => !keys.includes(k)).sort(), [], 'documented keys the schema does not know');
  });

  it('states each default exactly as the schema applies it', () => {
    const wrong: string[] = [];
    for (const [key, value] of Object.entries(defaults)) {
      if (key === 'name') continue; // the host name: documented in words
      const cell = rows.get(key) ?? '';
      const expected = typeof value === 'string' ? `\`"${value}"\`` : `\`${JSON.stringify(value)}\``;
      if (cell !== expected) wrong.push(`${key}: documented ${cell}, schema default ${expected}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('states each range and length limit the schema enforces', () => {
    assert.deepEqual(undocumentedLimits(configSchema, DOC), []);
  });
});
