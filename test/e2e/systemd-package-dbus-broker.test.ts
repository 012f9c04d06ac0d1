/**
 * The package on a system bus run by dbus-broker, the bus of OpenBMC, under a real systemd: Debian
 * bookworm in systemd-nspawn with Debian's dbus-broker installed (which makes it the system bus in
 * place of dbus-daemon). dbus-broker reads the same policy files (its launcher parses them, and
 * reloads them when a file changes) but enforces policy and handles names with its own code, so the
 * install, the shipped policy and the name are checked again on it: `dpkg -i` starts the units without a failed
 * first start, the three services own their names (Type=dbus), anybody reads, only root calls
 * ProvisionPeer, a rival root connection asking for the name with REPLACE_EXISTING does not get it,
 * and a configuration reload keeps everything. Skipped, with the reason, where nspawn cannot run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { giveIdentityScript } from '../harness/container-identity.ts';
import { REPO } from '../harness/daemon.ts';
import { ATTESTATION_UNIT as ATTESTATION, BRIDGE_UNIT as BRIDGE, PACKAGE_UNITS as UNITS, PROVISIONING_UNIT as PROVISIONING } from '../harness/package-units.ts';
import { bootedUnits, bootPackageContainer, busOwnerPid, type Container, containerUnavailable, journal, type PackageContainer, SYSTEM_BUS_PROGRAMS, systemBusProgram } from '../harness/systemd-container.ts';

const DEST = 'xyz.openbmc_project.Provisioning /xyz/openbmc_project/Provisioning';
const IFACE = 'xyz.openbmc_project.Provisioning.Provisioning';
/** Nets for a loaded 2-core machine (service starts, a restart after RestartSec=5s), not measurements. */
const UNIT_DEADLINE_MS = 60_000;
const SETUP_DEADLINE_MS = 30 * 60_000;
const NAME = 'bmc-a';
/** RequestName's flags and replies (D-Bus specification). */
const REPLACE_EXISTING = 2;
const IN_QUEUE = 2;

const unavailable = await containerUnavailable('dbus-broker');

describe('the .deb on a dbus-broker system bus (Debian bookworm with dbus-broker, in systemd-nspawn)', { skip: unavailable }, () => {
  let booted: PackageContainer | undefined;
  let c: Container | undefined;
  const { container, show, waitFor } = bootedUnits(() => c, UNIT_DEADLINE_MS);
  const active = (unit: string) => waitFor(unit, 'active', (p) => p['ActiveState'] === 'active', ['ActiveState', 'MainPID', 'NRestarts']);
  const busPid = (name: string) => busOwnerPid(container(), name);

  before(
    async () => {
      booted = await bootPackageContainer(REPO, { name: 'pd-broker', bus: 'dbus-broker' });
      c = booted.container;
    },
    { timeout: SETUP_DEADLINE_MS },
  );
  after(() => booted?.stop(), { timeout: 60_000 });

  it('the system bus is dbus-broker, not dbus-daemon', async () => {
    // The broker answers with the credentials of its launcher, the unit's main process.
    assert.equal(await systemBusProgram(container()), SYSTEM_BUS_PROGRAMS['dbus-broker']);
    assert.equal((await container().exec('pgrep', ['-x', 'dbus-broker'])).code, 0, 'the broker runs');
    assert.notEqual((await container().exec('pgrep', ['-x', 'dbus-daemon'])).code, 0, 'no dbus-daemon runs');
  });

  it('dpkg -i: the policy is in force before the units ask for their names: provisioningd and the bridge start on the first try, no AccessDenied, no policy warning from the broker', async () => {
    const since = (await container().sh('date +%s.%N')).trim();
    const install = await container().exec('dpkg', ['-i', booted?.deb ?? ''], { timeoutMs: 120_000 });
    assert.equal(install.code, 0, `${install.stdout}${install.stderr}`);
    for (const unit of [PROVISIONING, BRIDGE]) {
      const started = await active(unit);
      assert.equal(started['NRestarts'], '0', `${unit} needed a restart`);
    }
    // attestationd, with no identity yet, fails as on dbus-daemon (exit 78), not for want of its name.
    const failed = await waitFor(ATTESTATION, 'failed', (p) => p['ActiveState'] === 'failed', ['ActiveState', 'ExecMainStatus']);
    assert.equal(failed['ExecMainStatus'], '78');
    const ours = (await container().sh(`journalctl -o cat --no-pager --since @${since} ${UNITS.map((u) => `-u ${u.unit}`).join(' ')}`)).split('\n');
    assert.deepEqual(ours.filter((line) => /AccessDenied|not allowed to own/i.test(line)), []);
    // The broker names a policy file it cannot use in its own journal (its unit, which dbus.service names as an alias).
    const broker = (await container().sh(`journalctl -o cat --no-pager --since @${since} -u dbus-broker.service`)).split('\n');
    assert.deepEqual(broker.filter((line) => UNITS.some((u) => line.includes(u.policy))), []);
  });

  it('with an identity, all three services own their names (Type=dbus), each by its main process', async () => {
    await container().sh(giveIdentityScript(NAME));
    await container().sh(`mkdir -p /var/provisioning && printf '{"name": "${NAME}"}\\n' > /var/provisioning/provisioning.conf
systemctl reset-failed ${ATTESTATION}
systemctl restart ${ATTESTATION} ${PROVISIONING}`);
    for (const { unit, bus } of UNITS) {
      const { MainPID: pid } = await active(unit);
      assert.equal(await busPid(bus), `u ${pid}`, `${bus} is owned by ${unit}'s main process`);
    }
  });

  it('the shipped policy as dbus-broker applies it: anybody reads the properties, a non-root ProvisionPeer gets AccessDenied, root provisions', async () => {
    const asNobody = 'setpriv --reuid=nobody --regid=nogroup --clear-groups';
    const dest = '--dest=xyz.openbmc_project.Provisioning /xyz/openbmc_project/Provisioning';
    const read = await container().exec('sh', ['-c', `${asNobody} dbus-send --system --print-reply ${dest} org.freedesktop.DBus.Properties.Get string:${IFACE} string:provisioned`]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /boolean false/);
    const denied = await container().exec('sh', ['-c', `${asNobody} dbus-send --system --print-reply ${dest} ${IFACE}.ProvisionPeer string:self`]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /org\.freedesktop\.DBus\.Error\.AccessDenied/);
    const owns = await container().exec('sh', ['-c', `${asNobody} busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus RequestName su xyz.openbmc_project.Provisioning ${REPLACE_EXISTING}`]);
    assert.notEqual(owns.code, 0, 'nobody may even queue for the name');
    await container().sh(`busctl call ${DEST} ${IFACE} ProvisionPeer s self`);
    assert.equal((await container().sh(`busctl get-property ${DEST} ${IFACE} provisioned`)).trim(), 'b true');
  });

  it('a rival root connection asking for the name with REPLACE_EXISTING is queued behind provisioningd, which keeps serving', async () => {
    const { MainPID: pid } = await show(PROVISIONING, 'MainPID');
    const rival = await container().sh(`busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus RequestName su xyz.openbmc_project.Provisioning ${REPLACE_EXISTING}`);
    assert.equal(rival.trim(), `u ${IN_QUEUE}`);
    assert.equal(await busPid('xyz.openbmc_project.Provisioning'), `u ${pid}`);
    assert.equal((await container().sh(`busctl get-property ${DEST} ${IFACE} provisioned`)).trim(), 'b true');
  });

  it('systemctl reload dbus (ReloadConfig on the broker) keeps every name with its owner and the policy in force', async () => {
    const owners = await Promise.all(UNITS.map((u) => busPid(u.bus)));
    await container().sh('systemctl reload dbus.service');
    assert.deepEqual(await Promise.all(UNITS.map((u) => busPid(u.bus))), owners);
    const denied = await container().exec('sh', ['-c', `setpriv --reuid=nobody --regid=nogroup --clear-groups dbus-send --system --print-reply --dest=xyz.openbmc_project.Provisioning /xyz/openbmc_project/Provisioning ${IFACE}.ProvisionPeer string:self`]);
    assert.match(denied.stderr, /org\.freedesktop\.DBus\.Error\.AccessDenied/);
    const lines = (await journal(container(), PROVISIONING)).filter((e) => e['SYSLOG_IDENTIFIER'] === 'provisioningd' && Number(e['PRIORITY']) <= 3);
    assert.deepEqual(lines.map((e) => e['MESSAGE']), [], 'no error from provisioningd');
  });
});
