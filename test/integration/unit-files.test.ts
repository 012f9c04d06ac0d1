/**
 * The shipped systemd units, as systemd itself reads them: `systemd-analyze verify` on each, which
 * fails on a bad setting (a D-Bus service without BusName, a malformed value) and warns on an
 * unknown key; a unit must give neither.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../harness/daemon.ts';
import { runTool } from '../harness/run-tool.ts';

const SERVICE_DIR = join(REPO, 'service');
const units = readdirSync(SERVICE_DIR).filter((f) => f.endsWith('.service')).sort();

describe('shipped systemd units', () => {
  it('are the three services: provisioningd, attestationd and the lldp bridge', () => {
    assert.deepEqual(units, ['lldp-bridge.service', 'xyz.openbmc_project.Provisioning.service', 'xyz.openbmc_project.attestation.service']);
  });

  for (const unit of units) {
    it(`${unit}: systemd-analyze verify accepts it without a warning`, async () => {
      const r = await runTool('systemd-analyze', ['verify', '--man=no', join(SERVICE_DIR, unit)], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', 'no warning');
    });
  }
});
