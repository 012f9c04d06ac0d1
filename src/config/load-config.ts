import { readFileSync } from 'node:fs';
import { configSchema, knownKeys, type Config } from './schema.ts';

/** Exit status for a configuration error (sysexits.h EX_CONFIG). */
export const EX_CONFIG = 78;

export const DEFAULT_CONF_PATH = '/var/provisioning/provisioning.conf';

/** A configuration problem the operator must fix; its message is one line naming file and field. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** What loading produced: the config plus the notes the caller should log once. */
export interface LoadedConfig {
  readonly config: Config;
  readonly path: string;
  readonly usedDefaults: boolean;
  readonly warnings: readonly string[];
}

function unknownKeyWarnings(raw: Record<string, unknown>, path: string): string[] {
  const out: string[] = [];
  const note = (key: string) => out.push(`${path}: unknown key "${key}" ignored`);
  for (const key of Object.keys(raw)) if (!knownKeys.top.has(key)) note(key);
  const token = raw['token'];
  if (token && typeof token === 'object' && !Array.isArray(token)) {
    for (const key of Object.keys(token)) if (!knownKeys.token.has(key)) note(`token.${key}`);
  }
  const peers = raw['peers'];
  if (Array.isArray(peers)) {
    peers.forEach((p, i) => {
      if (p && typeof p === 'object' && !Array.isArray(p)) {
        for (const key of Object.keys(p)) if (!knownKeys.peer.has(key)) note(`peers[${i}].${key}`);
      }
    });
  }
  return out;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

/** Parses config text; throws ConfigError with a one-line message naming the file and field. */
export function parseConfig(text: string, path: string): LoadedConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`${path}: not valid JSON: ${why.split('\n')[0]}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${path}: the top level must be a JSON object`);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue ? fieldName(issue.path) || '(top level)' : '(top level)';
    const message = issue?.message ?? 'invalid';
    throw new ConfigError(`${path}: field "${field}": ${message}`);
  }
  return {
    config: result.data,
    path,
    usedDefaults: false,
    warnings: unknownKeyWarnings(raw as Record<string, unknown>, path),
  };
}

/** Reads the config file; a missing file means defaults, anything else wrong is a ConfigError. */
export function loadConfig(path: string = DEFAULT_CONF_PATH): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { config: configSchema.parse({}), path, usedDefaults: true, warnings: [] };
    }
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`${path}: cannot be read: ${why}`);
  }
  return parseConfig(text, path);
}
