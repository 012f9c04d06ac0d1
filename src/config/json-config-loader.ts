import { readFileSync } from 'node:fs';
import type * as z from '../util/zod.ts';
import { errorMessage } from '../util/error-message.ts';

/** A configuration problem the operator must fix; its message is one line naming file and field. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The keys allowed one level below the top: under an object key, or in each element of an array key. */
export interface NestedKnownKeys {
  readonly key: string;
  readonly kind: 'object' | 'array';
  readonly keys: ReadonlySet<string>;
}

/** What one daemon's JSON config file is: its schema, and the keys it knows so unknown ones are reported. */
export interface JsonConfigSpec<S extends z.ZodMiniType> {
  readonly schema: S;
  readonly topKeys: ReadonlySet<string>;
  readonly nested: readonly NestedKnownKeys[];
  /** Where the daemon looks when `--conf` is not given. */
  readonly defaultPath: string;
}

/** What loading produced: the config plus the notes the caller should log once. */
export interface LoadedJsonConfig<T> {
  readonly config: T;
  readonly path: string;
  readonly usedDefaults: boolean;
  readonly warnings: readonly string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function unknownKeyWarnings<S extends z.ZodMiniType>(spec: JsonConfigSpec<S>, raw: Record<string, unknown>, path: string): string[] {
  const out: string[] = [];
  const note = (key: string) => out.push(`${path}: unknown key "${key}" ignored`);
  for (const key of Object.keys(raw)) if (!spec.topKeys.has(key)) note(key);
  for (const { key: parent, kind, keys } of spec.nested) {
    const value = raw[parent];
    if (kind === 'object') {
      if (isObject(value)) for (const key of Object.keys(value)) if (!keys.has(key)) note(`${parent}.${key}`);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (isObject(item)) for (const key of Object.keys(item)) if (!keys.has(key)) note(`${parent}[${i}].${key}`);
      });
    }
  }
  return out;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/** Parses config text; throws ConfigError with a one-line message naming the file and field. */
export function parseJsonConfig<S extends z.ZodMiniType>(spec: JsonConfigSpec<S>, text: string, path: string): LoadedJsonConfig<z.output<S>> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const why = errorMessage(err);
    throw new ConfigError(`${path}: not valid JSON: ${why.split('\n')[0]}`);
  }
  if (!isObject(raw)) throw new ConfigError(`${path}: the top level must be a JSON object`);
  return { config: validate(spec, raw, path), path, usedDefaults: false, warnings: unknownKeyWarnings(spec, raw, path) };
}

/**
 * Applies the schema; throws ConfigError naming the field. A field the file does not set is said to
 * be the default's fault (a default computed at run time, such as the host name, can be invalid).
 */
function validate<S extends z.ZodMiniType>(spec: JsonConfigSpec<S>, raw: Record<string, unknown>, path: string): z.output<S> {
  const result = spec.schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue ? fieldName(issue.path) || '(top level)' : '(top level)';
  const top = issue?.path[0];
  const unset = typeof top === 'string' && !(top in raw) ? ' (not in the file: its default)' : '';
  throw new ConfigError(`${path}: field "${field}"${unset}: ${issue?.message ?? 'invalid'}`);
}

/** Reads a config file; a missing file means defaults, anything else wrong is a ConfigError. */
export function loadJsonConfig<S extends z.ZodMiniType>(spec: JsonConfigSpec<S>, path: string): LoadedJsonConfig<z.output<S>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { config: validate(spec, {}, path), path, usedDefaults: true, warnings: [] };
    }
    const why = errorMessage(err);
    throw new ConfigError(`${path}: cannot be read: ${why}`);
  }
  return parseJsonConfig(spec, text, path);
}

/** One daemon's config file: parse text, or load a path (the spec's default path when none is given). */
export interface JsonConfigFile<T> {
  parse(text: string, path: string): LoadedJsonConfig<T>;
  load(path?: string): LoadedJsonConfig<T>;
}

/** Binds the loader to one daemon's config file. */
export function jsonConfigFile<S extends z.ZodMiniType>(spec: JsonConfigSpec<S>): JsonConfigFile<z.output<S>> {
  return {
    parse: (text, path) => parseJsonConfig(spec, text, path),
    load: (path = spec.defaultPath) => loadJsonConfig(spec, path),
  };
}
