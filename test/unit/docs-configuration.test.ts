import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { configSchema, knownKeys } from '../../src/config/schema.ts';
import * as z from '../../src/util/zod.ts';

const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/configuration.md'), 'utf8');

/** `| \`key\` | default | meaning |` rows of the reference tables, by key. */
function documentedDefaults(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of DOC.matchAll(/^\| `([\w.]+)` \| ([^|]+) \|/gm)) rows.set(m[1] ?? '', (m[2] ?? '').trim());
  return rows;
}

/** The limits of one key as the schema states them (its JSON Schema). */
interface KeyLimits {
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  maxItems?: number;
}

/** Every key (top level and `token.*`) with the limits the schema puts on it. */
function schemaLimits(): Map<string, KeyLimits> {
  const json = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, KeyLimits & { properties?: Record<string, KeyLimits> }> };
  const out = new Map<string, KeyLimits>();
  for (const [key, limits] of Object.entries(json.properties)) {
    out.set(key, limits);
    for (const [sub, l] of Object.entries(limits.properties ?? {})) out.set(`${key}.${sub}`, l);
  }
  return out;
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
    const lines = new Map<string, string>();
    for (const m of DOC.matchAll(/^\| `([\w.]+)` \|.*$/gm)) lines.set(m[1] ?? '', m[0]);
    const missing: string[] = [];
    for (const [key, l] of schemaLimits()) {
      const row = lines.get(key) ?? '';
      if (l.minimum !== undefined && l.maximum !== undefined && !row.includes(`${l.minimum}–${l.maximum}`)) missing.push(`${key}: ${l.minimum}–${l.maximum}`);
      if (l.maxLength !== undefined && !new RegExp(`at most ${l.maxLength} characters`, 'i').test(row)) missing.push(`${key}: at most ${l.maxLength} characters`);
      if (l.maxItems !== undefined && !new RegExp(`at most ${l.maxItems}\\b`, 'i').test(row)) missing.push(`${key}: at most ${l.maxItems}`);
    }
    assert.deepEqual(missing, []);
  });
});
