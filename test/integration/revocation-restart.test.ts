/**
 * A revocation holds across a restart even when its CA file was never removed (the removal failed,
 * or a ProvisionPeer's new binding reached the disk but its verdict never reached the state file):
 * a peer state.json records as revoked loses any attested binding still in the trust store at start,
 * and is refused until a ProvisionPeer attests it again.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { boundPem } from '../../src/pki/trust/name-binding.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { createTestPki } from '../harness/test-pki.ts';

describe('a revocation recorded in state.json, its CA file still bound', () => {
  const fixture = useBusFixture();

  it('is applied again at start: the binding leaves the trust store, the other peer keeps its own', async () => {
    const dir = fixture.tempDir('pd-revoked-restart-');
    const pki = await createTestPki(join(dir, 'pki'));
    const state = join(dir, 'bmc', 'state');
    const trust = join(state, 'trust');
    mkdirSync(trust, { recursive: true, mode: 0o700 });
    const revoked = join(trust, 'bmc-b.pem');
    const kept = join(trust, 'bmc-c.pem');
    writeFileSync(revoked, boundPem(['bmc-b'], pki.b.ca.pem), { mode: 0o644 });
    writeFileSync(kept, boundPem(['bmc-c'], pki.rogueCa.pem), { mode: 0o644 });
    const peers = { 'bmc-b': { verdict: 'revoked', lastAttestedMs: Date.now() - 60_000 }, 'bmc-c': { verdict: 'passed', lastAttestedMs: Date.now() - 60_000 } };
    writeFileSync(join(state, 'state.json'), JSON.stringify({ version: 2, provisioned: false, peers }), { mode: 0o600 });

    const d = await fixture.startDaemon({ dir: join(dir, 'bmc'), config: { name: 'bmc-a' } });
    assert.equal(existsSync(revoked), false, `the revoked peer's binding is gone:\n${d.output()}`);
    assert.ok(existsSync(kept), 'the other peer keeps its binding');
    assert.match(d.output(), /revoked the binding of CA [0-9a-f]+ to bmc-b.*event=CA_REVOKED/);
  });
});
