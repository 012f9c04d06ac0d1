import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ATTESTATION_REJECTED, ATTESTATION_REVOKED, VERDICT_CODES } from '../../machines/reattestation.ts';

const read = (path: string) => readFileSync(resolve(import.meta.dirname, '../..', path), 'utf8');

describe('every error an operator can meet is explained in docs/', () => {
  it('each TokenError code has a row in docs/tokens.md and is named in docs/operations.md', () => {
    const union = /export type TokenErrorCode =([^;]+);/.exec(read('src/pki/token/token-error.ts'))?.[1] ?? '';
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1] ?? '');
    assert.ok(codes.length >= 10, `found ${codes.length} codes`);
    const tokens = read('docs/tokens.md');
    const operations = read('docs/operations.md');
    assert.deepEqual(codes.filter((c) => !tokens.includes(`| \`${c}\` |`)), [], 'codes without a row in docs/tokens.md');
    assert.deepEqual(codes.filter((c) => c !== 'FAILED' && !operations.includes(`\`${c}\``)), [], 'codes not named in docs/operations.md');
  });

  it('each re-attestation code and verdict code is explained in docs/attestation.md, and the revocation in docs/operations.md', () => {
    const attestation = read('docs/attestation.md');
    const codes = [ATTESTATION_REVOKED, ATTESTATION_REJECTED, ...VERDICT_CODES];
    assert.ok(codes.length > 10);
    assert.deepEqual(codes.filter((c) => !attestation.includes(`\`${c}\``)), [], 'codes not named in docs/attestation.md');
    assert.ok(read('docs/operations.md').includes(`| \`${ATTESTATION_REVOKED}\` |`), 'ATTESTATION_REVOKED has a row in docs/operations.md');
    const events = ['PEER_REATTESTED', 'REATTESTATION_REJECTED', 'REATTESTATION_UNREACHABLE', 'ATTESTATION_REVOKED', 'CA_REVOKED', 'INBOUND_REVOKED'];
    const source = ['src/attestation-client/reattest-peer.actor.ts', 'src/attestation-client/revoke-peer-trust.actor.ts', 'src/pki/trust/trust-store.ts', 'src/tls/inbound-link.ts']
      .map(read)
      .join('\n');
    assert.deepEqual(events.filter((e) => !source.includes(`event: '${e}'`)), [], 'the events the docs name are the ones logged');
    assert.deepEqual(events.filter((e) => !attestation.includes(`event=${e}`)), [], 'events not shown in docs/attestation.md');
  });

  it('every event= and code= the daemons log is named in docs/', () => {
    const files = readdirSync(resolve(import.meta.dirname, '../../src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const logged = new Set<string>();
    for (const f of files) for (const m of read(`src/${f}`).matchAll(/\b(?:event|code): '([A-Z][A-Z0-9_]+)'/g)) logged.add(m[1] ?? '');
    assert.ok(logged.size > 50, `found ${logged.size} codes`);
    const docs = readdirSync(resolve(import.meta.dirname, '../../docs')).filter((f) => f.endsWith('.md')).map((f) => read(`docs/${f}`)).join('\n');
    assert.deepEqual([...logged].filter((c) => !new RegExp(`\\b${c}\\b`).test(docs)).sort(), [], 'logged codes no page of docs/ names');
  });

  it('each exit status of src/main.ts is in the table of docs/operations.md', () => {
    const main = read('src/main.ts') + read('src/service-main.ts') + read('src/config/load-config.ts');
    const statuses = [...main.matchAll(/const EX_\w+ = (\d+);/g)].map((m) => m[1] ?? '');
    assert.deepEqual(statuses.sort(), ['64', '69', '70', '78']);
    const operations = read('docs/operations.md');
    assert.deepEqual(statuses.filter((s) => !new RegExp(`^\\| ${s} \\|`, 'm').test(operations)), []);
  });

  it("each exit status of the lldp bridge is in its table in docs/operations.md, and the unit does not restart on exactly those the table says", () => {
    const statuses = [...read('src/lldp/bridge-main.ts').matchAll(/const EX_\w+ = (\d+);/g)].map((m) => m[1] ?? '');
    assert.deepEqual(statuses.sort(), ['64', '69', '70', '72', '73']);
    const operations = read('docs/operations.md');
    const section = operations.slice(operations.indexOf('## The LLDP bridge'));
    const rows = new Map([...section.matchAll(/^\| (\d+) \| (.*)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
    assert.deepEqual(statuses.filter((s) => !rows.has(s)), [], "statuses without a row in docs/operations.md's bridge table");
    const notRestarted = [...rows].filter(([, text]) => /not restarted/i.test(text)).map(([status]) => status);
    const unit = /^RestartPreventExitStatus=(.*)$/m.exec(read('service/lldp-bridge.service'))?.[1]?.split(/\s+/) ?? [];
    assert.deepEqual(unit.sort(), notRestarted.sort(), 'RestartPreventExitStatus= of lldp-bridge.service');
    assert.deepEqual(unit, ['64', '72', '73']);
  });
});
