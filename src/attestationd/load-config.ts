import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/load-config.ts';
import { attestationConfigSchema, attestationKnownKeys, type AttestationConfig } from './config-schema.ts';

/** Where attestationd looks for its configuration when `--conf` is not given. */
export const DEFAULT_ATTESTATION_CONF_PATH = '/var/provisioning/attestation.conf';

/** attestationd's configuration plus the notes to log once (same rules as provisioningd's). */
export interface LoadedAttestationConfig {
  readonly config: AttestationConfig;
  readonly path: string;
  readonly usedDefaults: boolean;
  readonly warnings: readonly string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function unknownKeyWarnings(raw: Record<string, unknown>, path: string): string[] {
  const out: string[] = [];
  const note = (key: string) => out.push(`${path}: unknown key "${key}" ignored`);
  for (const key of Object.keys(raw)) if (!attestationKnownKeys.top.has(key)) note(key);
  const token = raw['identity_token'];
  if (isObject(token)) for (const key of Object.keys(token)) if (!attestationKnownKeys.identity_token.has(key)) note(`identity_token.${key}`);
  const measured = raw['measurements'];
  if (Array.isArray(measured)) {
    measured.forEach((m, i) => {
      if (isObject(m)) for (const key of Object.keys(m)) if (!attestationKnownKeys.measurements.has(key)) note(`measurements[${i}].${key}`);
    });
  }
  return out;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/** Parses attestationd config text; throws ConfigError with one line naming the file and the field. */
export function parseAttestationConfig(text: string, path: string): LoadedAttestationConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
  }
  if (!isObject(raw)) throw new ConfigError(`${path}: the top level must be a JSON object`);
  const result = attestationConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue ? fieldName(issue.path) || '(top level)' : '(top level)';
    throw new ConfigError(`${path}: field "${field}": ${issue?.message ?? 'invalid'}`);
  }
  return { config: result.data, path, usedDefaults: false, warnings: unknownKeyWarnings(raw, path) };
}

/** Reads attestationd's config; a missing file means defaults, anything else wrong is a ConfigError. */
export function loadAttestationConfig(path: string = DEFAULT_ATTESTATION_CONF_PATH): LoadedAttestationConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { config: attestationConfigSchema.parse({}), path, usedDefaults: true, warnings: [] };
    }
    throw new ConfigError(`${path}: cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseAttestationConfig(text, path);
}
