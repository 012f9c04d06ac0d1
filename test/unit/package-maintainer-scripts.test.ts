/**
 * The .deb's postinst (scripts/package-maintainer-scripts.mjs), run by sh against a systemctl that
 * records its calls and refuses one unit the way systemd does when a unit requires one it does not
 * know (exit 5, "Unit lldpd.service not found."). test/e2e/systemd-package-no-lldpd.test.ts runs
 * the package's postinst under a real systemd.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { postinst } from '../../scripts/package-maintainer-scripts.mjs';
import { runTool } from '../harness/run-tool.ts';

const UNITS = ['xyz.openbmc_project.attestation.service', 'lldp-bridge.service', 'xyz.openbmc_project.Provisioning.service'];

describe("the package's postinst", () => {
  const dir = mkdtempSync(join(tmpdir(), 'postinst-'));
  after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 10_000 });
  const bin = join(dir, 'bin');
  const systemdRuns = join(dir, 'run-systemd-system');
  const calls = join(dir, 'calls');
  mkdirSync(bin);
  mkdirSync(systemdRuns);
  writeFileSync(
    join(bin, 'systemctl'),
    `#!/bin/sh\necho "$*" >> ${calls}\nif [ "$1 $2 $3" = "restart --no-block lldp-bridge.service" ]; then echo "Failed to restart lldp-bridge.service: Unit lldpd.service not found." >&2; exit 5; fi\n`,
  );
  chmodSync(join(bin, 'systemctl'), 0o755);
  // The script as shipped, with "is systemd running" pointed at a folder of this test.
  const script = join(dir, 'postinst');
  const text = postinst(UNITS);
  writeFileSync(script, text.replaceAll('/run/systemd/system', systemdRuns));
  const run = () => runTool('sh', [script, 'configure'], { env: { PATH: `${bin}:/usr/bin:/bin` }, timeoutMs: 10_000 });

  it('checks for a running systemd where systemd says (/run/systemd/system)', () => {
    assert.match(text, /\[ -d \/run\/systemd\/system \]/);
  });

  it('one unit that cannot be started does not fail the configuration: it is reported, and every other unit is still started', async () => {
    rmSync(calls, { force: true });
    const r = await run();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Unit lldpd\.service not found/);
    assert.match(r.stderr, /provisioningd: lldp-bridge\.service was not started \(systemctl status lldp-bridge\.service tells why\)/);
    const made = readFileSync(calls, 'utf8').trim().split('\n');
    assert.deepEqual(made, ['daemon-reload', `enable ${UNITS.join(' ')}`, ...UNITS.map((u) => `restart --no-block ${u}`)]);
  });
});
