import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/load-config.ts';
import { attestationConfigSchema, attestationKnownKeys } from '../../src/attestationd/config-schema.ts';
import { parseAttestationConfig } from '../../src/attestationd/load-config.ts';
import { undocumentedLimits } from '../harness/documented-limits.ts';

const FILE = '/etc/attestation.conf';
const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/attestation.md'), 'utf8');

function errorOf(text: string): string {
  try {
    parseAttestationConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('attestationd configuration', () => {
  it('an empty object gives the defaults; the identity key is on the software token', () => {
    const { config, warnings } = parseAttestationConfig('{}', FILE);
    assert.equal(config.spdm_port, 2323);
    assert.equal(config.attest_timeout, 20);
    assert.equal(config.identity_token, undefined);
    assert.deepEqual(warnings, []);
  });

  it('a PKCS#11 identity token gets its own default key label', () => {
    const { config } = parseAttestationConfig(JSON.stringify({ identity_token: { module: '/m.so', label: 'bmc', pin_file: '/pin' } }), FILE);
    assert.equal(config.identity_token?.key_label, 'attestation-identity');
  });

  it('bad values are one line naming the file and the field', () => {
    assert.equal(errorOf('{"spdm_port": 70000}').startsWith(`${FILE}: field "spdm_port": `), true);
    assert.match(errorOf('{"measurements": [{"index": 239, "file": "/x"}]}'), /field "measurements\[0\]\.index": must be 1 to 238 \(239 carries the provisioning CA\)/);
    assert.match(errorOf('{"measurements": [{"index": 1, "file": "/x"}, {"index": 1, "file": "/y"}]}'), /field "measurements\[1\]\.index": index 1 is used twice/);
    assert.match(errorOf('{"spdm_address": "localhost"}'), /field "spdm_address"/);
    assert.match(errorOf('not json'), /not valid JSON/);
    for (const message of [errorOf('{"spdm_port": 70000}'), errorOf('[1]')]) assert.doesNotMatch(message, /\n/);
  });

  it('unknown keys are warnings naming the key', () => {
    const { warnings } = parseAttestationConfig('{"spdm_prot": 1, "identity_token": {"module": "/m", "label": "l", "pin_file": "/p", "pin": "1"}}', FILE);
    assert.deepEqual(warnings, [`${FILE}: unknown key "spdm_prot" ignored`, `${FILE}: unknown key "identity_token.pin" ignored`]);
  });

  it('docs/attestation.md documents every key with its default, and no other', () => {
    const rows = new Map<string, string>();
    const section = DOC.slice(DOC.indexOf('\n## Configuration\n'), DOC.indexOf('\n## Running it\n'));
    assert.ok(section.length > 100, 'docs/attestation.md has a Configuration section before Running it');
    for (const m of section.matchAll(/^\| `([\w.[\]]+)` \| ([^|]+) \|/gm)) rows.set(m[1] ?? '', (m[2] ?? '').trim());
    const keys = [
      ...attestationKnownKeys.top,
      ...[...attestationKnownKeys.identity_token].map((k) => `identity_token.${k}`),
      ...[...attestationKnownKeys.measurements].map((k) => `measurements[].${k}`),
    ].sort();
    assert.deepEqual(keys.filter((k) => !rows.has(k)), [], 'keys missing from docs/attestation.md');
    assert.deepEqual([...rows.keys()].filter((k) => !keys.includes(k)).sort(), [], 'documented keys the schema does not know');
    const defaults = attestationConfigSchema.parse({}) as Record<string, unknown>;
    const wrong: string[] = [];
    for (const [key, value] of Object.entries(defaults)) {
      const expected = typeof value === 'string' ? `\`"${value}"\`` : `\`${JSON.stringify(value)}\``;
      if (key !== 'measurements' && rows.get(key) !== expected) wrong.push(`${key}: documented ${rows.get(key)}, default ${expected}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('docs/attestation.md states each range and length limit the schema enforces', () => {
    const section = DOC.slice(DOC.indexOf('\n## Configuration\n'), DOC.indexOf('\n## Running it\n'));
    assert.deepEqual(undocumentedLimits(attestationConfigSchema, section), []);
  });
});
