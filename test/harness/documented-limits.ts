import * as z from '../../src/util/zod.ts';

/** The limits of one key as a schema states them (its JSON Schema), which its docs row must state too. */
interface KeyLimits {
  readonly minimum?: number;
  readonly maximum?: number;
  readonly maxLength?: number;
  readonly maxItems?: number;
  readonly properties?: Record<string, KeyLimits>;
  readonly items?: KeyLimits;
}

/** Every key of `schema` with its limits: top level, `parent.key` in an object, `parent[].key` in an array of objects. */
function schemaLimits(schema: z.ZodMiniType): Map<string, KeyLimits> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as KeyLimits;
  const out = new Map<string, KeyLimits>();
  for (const [key, limits] of Object.entries(json.properties ?? {})) {
    out.set(key, limits);
    for (const [sub, l] of Object.entries(limits.properties ?? {})) out.set(`${key}.${sub}`, l);
    for (const [sub, l] of Object.entries(limits.items?.properties ?? {})) out.set(`${key}[].${sub}`, l);
  }
  return out;
}

/**
 * The limits of `schema` that the markdown table rows of `doc` (`| \`key\` | …`) do not state: a
 * range as `min–max`, a length as `at most N characters`, a list as `at most N`.
 */
export function undocumentedLimits(schema: z.ZodMiniType, doc: string): string[] {
  const rows = new Map<string, string>();
  for (const m of doc.matchAll(/^\| `([\w.[\]]+)` \|.*$/gm)) rows.set(m[1] ?? '', m[0]);
  const missing: string[] = [];
  for (const [key, l] of schemaLimits(schema)) {
    const row = rows.get(key);
    if (row === undefined) continue; // a key without a row is the keys test's to report
    if (l.minimum !== undefined && l.maximum !== undefined && !row.includes(`${l.minimum}–${l.maximum}`)) missing.push(`${key}: ${l.minimum}–${l.maximum}`);
    if (l.maxLength !== undefined && !new RegExp(`at most ${l.maxLength} characters`, 'i').test(row)) missing.push(`${key}: at most ${l.maxLength} characters`);
    if (l.maxItems !== undefined && !new RegExp(`at most ${l.maxItems}\\b`, 'i').test(row)) missing.push(`${key}: at most ${l.maxItems}`);
  }
  return missing;
}
