/**
 * The package on a host without lldpd (lldpd is only recommended, and `dpkg -i` does not install
 * recommended packages), under a real systemd: Debian bookworm in systemd-nspawn, the same root file
 * system as systemd-package.test.ts with lldpd removed (`dpkg -r lldpd`, in the container's
 * volatile overlay). The installation configures, provisioningd runs, and the lldp bridge fails once
 * with exit 72 and one line instead of blocking the package or being restarted every 5 s. The
 * postinst itself is also run with a unit systemd refuses to start (the bridge made to require the
 * missing lldpd.service, as its unit once did): the configuration still succeeds and says which unit
 * was not started. Skipped, with the reason, where nspawn cannot run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../harness/daemon.ts';
import { bootedUnits, bootPackageContainer, type Container, containerUnavailable, journal, type PackageContainer } from '../harness/systemd-container.ts';

const PROVISIONING = 'xyz.openbmc_project.Provisioning.service';
const BRIDGE = 'lldp-bridge.service';
const UNITS = [PROVISIONING, 'xyz.openbmc_project.attestation.service', BRIDGE];
/** Nets for a loaded 2-core machine, not measurements. */
const UNIT_DEADLINE_MS = 60_000;
const SETUP_DEADLINE_MS = 30 * 60_000;

const unavailable = await containerUnavailable();

describe('the .deb on a host without lldpd (Debian bookworm in systemd-nspawn, lldpd removed)', { skip: unavailable }, () => {
  let booted: PackageContainer | undefined;
  let c: Container | undefined;
  const { container, show, waitFor } = bootedUnits(() => c, UNIT_DEADLINE_MS);

  before(
    async () => {
      booted = await bootPackageContainer(REPO, { name: 'pd-no-lldpd' });
      c = booted.container;
      await c.sh('dpkg -r lldpd >/dev/null');
      // Gone as on a host that never had it: no unit, no daemon, no lldpcli.
      for (const path of ['/usr/lib/systemd/system/lldpd.service', '/usr/sbin/lldpd', '/usr/sbin/lldpcli']) {
        assert.equal((await c.exec('test', ['-e', path])).code, 1, `${path} is still there`);
      }
    },
    { timeout: SETUP_DEADLINE_MS },
  );
  after(() => booted?.stop(), { timeout: 60_000 });

  it('dpkg -i configures the package; the units are enabled, provisioningd runs, the bridge fails once with exit 72 and one line and is not restarted', async () => {
    const install = await container().exec('dpkg', ['-i', booted?.deb ?? ''], { timeoutMs: 120_000 });
    assert.equal(install.code, 0, `${install.stdout}${install.stderr}`);
    assert.match(await container().sh('dpkg -s provisioningd'), /^Status: install ok installed$/m);
    for (const unit of UNITS) assert.equal((await show(unit, 'UnitFileState'))['UnitFileState'], 'enabled', unit);
    await waitFor(PROVISIONING, 'active', (p) => p['ActiveState'] === 'active', ['ActiveState']);
    // Failed, not restarting: Restart=on-failure would show activating/auto-restart instead.
    const failed = await waitFor(BRIDGE, 'failed', (p) => p['ActiveState'] === 'failed', ['ActiveState', 'ExecMainStatus', 'NRestarts', 'Wants', 'Requires']);
    assert.equal(failed['ExecMainStatus'], '72');
    assert.equal(failed['NRestarts'], '0');
    assert.match(failed['Wants'] ?? '', /\blldpd\.service\b/);
    assert.doesNotMatch(failed['Requires'] ?? '', /lldpd/);
    const lines = (await journal(container(), BRIDGE)).filter((e) => e['SYSLOG_IDENTIFIER'] === 'lldp-bridge');
    const errors = lines.filter((e) => e['PRIORITY'] === '3');
    assert.equal(errors.length, 1, JSON.stringify(lines.map((e) => e['MESSAGE'])));
    assert.match(String(errors[0]?.['MESSAGE']), /lldpcli not found in PATH: is lldpd installed\?/);
    // The name was never taken: nothing answers as the LLDP service.
    assert.notEqual((await container().exec('busctl', ['status', 'xyz.openbmc_project.LLDP'])).code, 0);
  });

  it('the postinst, with a unit systemd refuses to start (the bridge requiring the missing lldpd.service): configuration succeeds, names that unit, and starts the others', async () => {
    await container().sh(`mkdir -p /etc/systemd/system/${BRIDGE}.d && printf '[Unit]\\nRequires=lldpd.service\\n' > /etc/systemd/system/${BRIDGE}.d/requires-lldpd.conf`);
    await container().sh(`systemctl stop ${PROVISIONING}`);
    const before = await show(PROVISIONING, 'ExecMainStartTimestampMonotonic');
    const postinst = await container().exec('/var/lib/dpkg/info/provisioningd.postinst', ['configure']);
    assert.equal(postinst.code, 0, `${postinst.stdout}${postinst.stderr}`);
    assert.match(postinst.stderr, /Unit lldpd\.service not found/);
    assert.match(postinst.stderr, /provisioningd: lldp-bridge\.service was not started/);
    const started = await waitFor(PROVISIONING, 'started again', (p) => p['ActiveState'] === 'active' && p['ExecMainStartTimestampMonotonic'] !== before['ExecMainStartTimestampMonotonic'], ['ActiveState', 'ExecMainStartTimestampMonotonic']);
    assert.equal(started['ActiveState'], 'active');
    await container().sh(`rm -r /etc/systemd/system/${BRIDGE}.d && systemctl daemon-reload`);
  });
});
