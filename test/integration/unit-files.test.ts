/**
 * The shipped systemd units, as systemd itself reads them: `systemd-analyze verify` on each, which
 * fails on a bad setting (a D-Bus service without BusName, a malformed value) and warns on an
 * unknown key; a unit must give neither. And the daemons' stop timeout.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
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

  // A stop stuck in a file system call (a disk that hangs) keeps Node from exiting even after the
  // daemon's own 10 s hard stop; systemd's stop timeout must then kill it, after that hard stop and
  // well before systemd's default of 90 s.
  for (const unit of ['xyz.openbmc_project.Provisioning.service', 'xyz.openbmc_project.attestation.service']) {
    it(`${unit}: systemd kills a stop that hangs after the daemon's own 10 s, at 20 s`, () => {
      const m = /^TimeoutStopSec=(\d+)s$/m.exec(readFileSync(join(SERVICE_DIR, unit), 'utf8'));
      assert.ok(m, 'TimeoutStopSec=<n>s is set');
      assert.equal(Number(m[1]), 20);
    });
  }
});
