/**
 * The package under a real systemd: `pnpm package` builds the .deb, Debian bookworm boots in
 * systemd-nspawn (its own systemd as PID 1, dbus, journald, lldpd; the daemons on Node 22 bound in
 * at /usr/bin/node), `dpkg -i` installs it, and the three units are checked as a BMC would run them:
 * the fresh install (attestationd has no identity yet: exit 78, one line, not restarted), the
 * identity given as docs/attestation.md tells an operator, all three services active with their bus
 * names (Type=dbus), the shipped D-Bus policy, the journal (identifier and priority per line),
 * restart rules (the bridge's when another process owns its name), state directory modes, V8's compile cache in each unit's CacheDirectory,
 * ProtectSystem=strict, and systemd-analyze on the installed units. Skipped, with the reason, where nspawn cannot run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { giveIdentityScript } from '../harness/container-identity.ts';
import { eventually, REPO } from '../harness/daemon.ts';
import { ATTESTATION_UNIT as ATTESTATION, BRIDGE_UNIT as BRIDGE, PACKAGE_UNITS as UNITS, PROVISIONING_UNIT as PROVISIONING } from '../harness/package-units.ts';
import { bootedUnits, bootPackageContainer, busOwnerPid, type Container, containerUnavailable, journal, type PackageContainer } from '../harness/systemd-container.ts';

/** Nets for a loaded 2-core machine (service starts, a restart after RestartSec=5s), not measurements. */
const UNIT_DEADLINE_MS = 60_000;
const SETUP_DEADLINE_MS = 30 * 60_000;
/** The goal for `systemd-analyze security`'s exposure of every unit. */
const EXPOSURE_GOAL = 4.0;
const NAME = 'bmc-a';

const unavailable = await containerUnavailable();

describe('the .deb under a real systemd (Debian bookworm in systemd-nspawn)', { skip: unavailable }, () => {
  let booted: PackageContainer | undefined;
  let c: Container | undefined;
  let inspectorDeb = '';
  const { container, show, waitFor } = bootedUnits(() => c, UNIT_DEADLINE_MS);
  const active = (unit: string) => waitFor(unit, 'active', (p) => p['ActiveState'] === 'active', ['ActiveState', 'MainPID', 'NRestarts']);

  before(
    async () => {
      booted = await bootPackageContainer(REPO, { name: 'pd-deb' });
      c = booted.container;
      inspectorDeb = booted.deb.replace(/provisioningd_([^_]+)_[^_]+\.deb$/, 'provisioningd-inspector_$1_all.deb');
      await c.sh(`dpkg -i ${booted.deb}`);
    },
    { timeout: SETUP_DEADLINE_MS },
  );
  after(() => booted?.stop(), { timeout: 60_000 });

  it('fresh install: the units are enabled; attestationd, with no identity yet, fails with one error line and exit 78 and is not restarted; the others run without a tpm2-pkcs11 store', async () => {
    for (const { unit } of UNITS) assert.equal((await show(unit, 'UnitFileState'))['UnitFileState'], 'enabled', unit);
    const failed = await waitFor(ATTESTATION, 'failed', (p) => p['ActiveState'] === 'failed', ['ActiveState', 'ExecMainStatus', 'NRestarts']);
    assert.equal(failed['ExecMainStatus'], '78');
    assert.equal(failed['NRestarts'], '0');
    const lines = (await journal(container(), ATTESTATION)).filter((e) => e['SYSLOG_IDENTIFIER'] === 'attestationd');
    const errors = lines.filter((e) => e['PRIORITY'] === '3');
    assert.equal(errors.length, 1, JSON.stringify(lines.map((e) => e['MESSAGE'])));
    assert.match(String(errors[0]?.['MESSAGE']), /identity chain \/etc\/attestation\/identity-chain\.pem does not exist: this BMC has no identity yet/);
    await active(PROVISIONING);
    await active(BRIDGE);
    // No tpm2-pkcs11 store on this host: ReadWritePaths=-… skips it instead of failing with 226/NAMESPACE.
    assert.equal((await container().exec('test', ['-e', '/var/lib/tpm2-pkcs11'])).code, 1);
  });

  it("with the identity made as docs/attestation.md says, all three services are active and own their bus names (Type=dbus), provisioningd with its unit's malloc setting", async () => {
    await container().sh(giveIdentityScript(NAME));
    // One unknown key, and the inspector asked for though its part (provisioningd-inspector) is not
    // installed: two warnings, checked in the journal below; the daemon runs.
    await container().sh(`mkdir -p /var/provisioning && printf '{"name": "${NAME}", "colour": "blue", "inspect_port": 9000}\\n' > /var/provisioning/provisioning.conf`);
    await container().sh(`systemctl restart ${ATTESTATION} ${PROVISIONING}`);
    for (const { unit, bus } of UNITS) {
      const { MainPID: pid } = await active(unit);
      assert.equal(await busOwnerPid(container(), bus), `u ${pid}`, `${bus} is owned by ${unit}'s main process`);
      // provisioningd runs with its unit's malloc setting (docs/operations.md, "The units").
      if (unit === PROVISIONING) assert.match(await container().sh(`tr '\\0' '\\n' < /proc/${pid}/environ`), /^MALLOC_ARENA_MAX=2$/m);
    }
  });

  it("V8's compile cache: each unit writes it to its own CacheDirectory (0700) once up, and a restart starts from it", async () => {
    const caches = [
      { unit: PROVISIONING, dir: '/var/cache/provisioning' },
      { unit: ATTESTATION, dir: '/var/cache/attestation' },
      { unit: BRIDGE, dir: '/var/cache/lldp-bridge' },
    ];
    // The cache of the bundle a unit runs: one file per compiled module, under a directory named after the Node version.
    const cached = async (dir: string) => (await container().sh(`find ${dir} -type f | sort`)).trim().split('\n').filter(Boolean);
    for (const { unit, dir } of caches) {
      await active(unit);
      assert.equal((await container().sh(`stat -c %a ${dir}`)).trim(), '700', dir);
      // Written just after the name is owned (Type=dbus: active): wait for it, with a deadline.
      assert.ok(await eventually(async () => (await cached(dir)).length > 0, UNIT_DEADLINE_MS, 250), `${unit}: nothing in ${dir}`);
      assert.equal((await show(unit, 'Environment'))['Environment']?.includes(`NODE_COMPILE_CACHE=${dir}`), true, unit);
    }
    // A restart reads the cache (the bundles have not changed): Node rewrites an entry only when it
    // rejects it, so every file written before keeps its modification time. (The bridge: the other
    // units are restarted often enough by the other tests to come near systemd's start limit.)
    const stamped = async () => (await container().sh(`find /var/cache/lldp-bridge -type f -printf '%p %T@\\n' | sort`)).trim().split('\n');
    const before = await stamped();
    await container().sh(`systemctl restart ${BRIDGE}`);
    await active(BRIDGE);
    const after = new Set(await stamped());
    assert.deepEqual(before.filter((entry) => !after.has(entry)), [], 'cache entries rewritten by the restart');
  });

  it('the shipped policy: anybody reads the properties and introspects, a non-root ProvisionPeer gets AccessDenied, root provisions', async () => {
    const asNobody = 'setpriv --reuid=nobody --regid=nogroup --clear-groups';
    const dest = '--dest=xyz.openbmc_project.Provisioning /xyz/openbmc_project/Provisioning';
    const read = await container().exec('sh', ['-c', `${asNobody} dbus-send --system --print-reply ${dest} org.freedesktop.DBus.Properties.Get string:xyz.openbmc_project.Provisioning.Provisioning string:provisioned`]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /boolean false/);
    // Introspection too: dbus-next builds its XML with xml2js, which the installed bundle loads from /usr/lib/provisioningd/node_modules when first asked.
    const introspect = await container().exec('sh', ['-c', `${asNobody} busctl introspect --xml-interface xyz.openbmc_project.Provisioning /xyz/openbmc_project/Provisioning`]);
    assert.equal(introspect.code, 0, introspect.stderr);
    assert.match(introspect.stdout, /<method name="ProvisionPeer">/);
    const denied = await container().exec('sh', ['-c', `${asNobody} dbus-send --system --print-reply ${dest} xyz.openbmc_project.Provisioning.Provisioning.ProvisionPeer string:self`]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /org\.freedesktop\.DBus\.Error\.AccessDenied/);
    await container().sh('busctl call xyz.openbmc_project.Provisioning /xyz/openbmc_project/Provisioning xyz.openbmc_project.Provisioning.Provisioning ProvisionPeer s self');
    const provisioned = await container().sh('busctl get-property xyz.openbmc_project.Provisioning /xyz/openbmc_project/Provisioning xyz.openbmc_project.Provisioning.Provisioning provisioned');
    assert.equal(provisioned.trim(), 'b true');
  });

  it('the journal: each service under its own identifier, each line at its level (info 6, warning 4, error 3)', async () => {
    for (const { unit, identifier } of UNITS) {
      const own = (await journal(container(), unit)).filter((e) => e['_PID'] !== '1');
      assert.ok(own.length > 0, unit);
      assert.deepEqual([...new Set(own.map((e) => e['SYSLOG_IDENTIFIER']))], [identifier], unit);
    }
    const lines = await journal(container(), PROVISIONING);
    const priority = (re: RegExp) => lines.find((e) => re.test(String(e['MESSAGE'])))?.['PRIORITY'];
    assert.equal(priority(/owns the bus name/), '6');
    assert.equal(priority(/colour/), '4', 'the unknown key is a warning');
    assert.equal(priority(/inspector is not installed.*code=INSPECTOR_NOT_INSTALLED/), '4', 'no inspector part: a warning');
    assert.ok(lines.every((e) => !String(e['MESSAGE']).startsWith('<')), 'the <N> prefixes are parsed, not printed');
  });

  it('the inspector is its own package: installed, the daemon loads it and serves the page on inspect_port', async () => {
    await container().sh(`dpkg -i ${inspectorDeb} && systemctl restart ${PROVISIONING}`);
    await active(PROVISIONING);
    // The first page lays the statecharts out (elkjs on its thread): generous, for a loaded machine.
    const page = await container().exec('node', ['-e', "fetch('http://127.0.0.1:9000/', { signal: AbortSignal.timeout(60000) }).then(async (r) => console.log(r.status, await r.text()))"], { timeoutMs: 90_000 });
    assert.equal(page.code, 0, page.stderr);
    assert.match(page.stdout, /^200 [\s\S]*<svg[\s\S]*provisioning/i);
  });

  it('restarts: SIGKILL is restarted (after RestartSec), exit 78 (an unreadable configuration) is not', async () => {
    const before = await show(PROVISIONING, 'MainPID', 'NRestarts');
    await container().sh(`systemctl kill -s KILL ${PROVISIONING}`);
    const after = await waitFor(PROVISIONING, 'restarted', (p) => p['ActiveState'] === 'active' && p['NRestarts'] === String(Number(before['NRestarts']) + 1), ['ActiveState', 'MainPID', 'NRestarts']);
    assert.notEqual(after['MainPID'], before['MainPID']);

    // Root without CAP_DAC_OVERRIDE (CapabilityBoundingSet=) cannot read a file mode 000.
    await container().sh('chmod 000 /var/provisioning/provisioning.conf');
    await container().sh(`systemctl restart ${PROVISIONING} || true`);
    const failed = await waitFor(PROVISIONING, 'failed', (p) => p['ActiveState'] === 'failed', ['ActiveState', 'ExecMainStatus', 'NRestarts']);
    assert.equal(failed['ExecMainStatus'], '78');
    const errors = (await journal(container(), PROVISIONING)).filter((e) => e['PRIORITY'] === '3' && e['SYSLOG_IDENTIFIER'] === 'provisioningd');
    assert.equal(errors.length, 1, JSON.stringify(errors.map((e) => e['MESSAGE'])));
    assert.match(String(errors[0]?.['MESSAGE']), /provisioning\.conf: cannot be read: EACCES/);
    await container().sh('chmod 600 /var/provisioning/provisioning.conf');
    await container().sh(`systemctl reset-failed ${PROVISIONING} && systemctl start ${PROVISIONING}`);
    await active(PROVISIONING);
  });

  it('a broken installation: a token whose module is not installed, or the pkcs11js addon missing, fails the unit with one line and exit 78, not restarted', async () => {
    const conf = (module: string) =>
      `${JSON.stringify({ name: NAME, token: { module, label: 'provisioning', pin_file: '/etc/provisioning/token.pin' } })}\n`;
    await container().sh('mkdir -p /etc/provisioning && umask 077 && echo 1234 > /etc/provisioning/token.pin && cp /var/provisioning/provisioning.conf /root/provisioning.conf.good');
    const cases = [
      { what: 'token module absent', module: '/usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1', setup: 'true', undo: 'true', line: /MODULE_MISSING: PKCS#11 module \/usr\/lib\/x86_64-linux-gnu\/libtpm2_pkcs11\.so\.1 does not exist/ },
      // Any existing file passes the module check; the addon's absence is what is reported.
      { what: 'addon missing', module: '/usr/lib/x86_64-linux-gnu/libc.so.6', setup: 'mv /usr/lib/provisioningd/node_modules/pkcs11js /root/pkcs11js', undo: 'mv /root/pkcs11js /usr/lib/provisioningd/node_modules/pkcs11js', line: /ADDON_MISSING: the pkcs11js addon .* is not installed/ },
    ];
    for (const bad of cases) {
      await container().sh(`cat > /var/provisioning/provisioning.conf && ${bad.setup}`, { input: conf(bad.module) });
      const since = (await container().sh('date +%s.%N')).trim();
      const before = await show(PROVISIONING, 'NRestarts');
      await container().sh(`systemctl restart ${PROVISIONING} || true`);
      const failed = await waitFor(PROVISIONING, `failed (${bad.what})`, (p) => p['ActiveState'] === 'failed', ['ActiveState', 'ExecMainStatus', 'NRestarts']);
      assert.equal(failed['ExecMainStatus'], '78', bad.what);
      assert.equal(failed['NRestarts'], before['NRestarts'], `${bad.what}: not restarted`);
      const out = await container().sh(`journalctl -o json --no-pager -t provisioningd --since @${since}`);
      const lines = out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const errors = lines.filter((e) => e['PRIORITY'] === '3');
      assert.equal(errors.length, 1, `${bad.what}: ${JSON.stringify(lines.map((e) => e['MESSAGE']))}`);
      assert.match(String(errors[0]?.['MESSAGE']), bad.line, bad.what);
      await container().sh(bad.undo);
    }
    await container().sh('cp /root/provisioning.conf.good /var/provisioning/provisioning.conf');
    await container().sh(`systemctl reset-failed ${PROVISIONING} && systemctl start ${PROVISIONING}`);
    await active(PROVISIONING);
  });

  it('state directories are 0700; ProtectSystem=strict leaves the daemons only their state and the certificate tree to write', async () => {
    for (const dir of ['/var/lib/provisioning', '/var/lib/attestation']) {
      assert.equal((await container().sh(`stat -c %a ${dir}`)).trim(), '700', dir);
    }
    const { MainPID: pid } = await show(PROVISIONING, 'MainPID');
    const write = (path: string) => container().exec('nsenter', ['-t', String(pid), '-m', 'sh', '-c', `echo x > ${path} && rm ${path}`]);
    for (const path of ['/usr/lib/provisioningd/x', '/etc/x', '/var/provisioning/x']) {
      const r = await write(path);
      assert.notEqual(r.code, 0, `${path} is writable`);
      assert.match(r.stderr, /Read-only file system/, path);
    }
    for (const path of ['/var/lib/provisioning/x', '/var/cache/provisioning/x', '/etc/ssl/certs/x']) {
      const r = await write(path);
      assert.equal(r.code, 0, `${path}: ${r.stderr}`);
    }
  });

  it('systemd-analyze verify is clean on the installed units, their Documentation= is installed, and security is printed per unit', async () => {
    const scores: string[] = [];
    for (const { unit } of UNITS) {
      const verify = await container().exec('systemd-analyze', ['verify', '--man=no', `/usr/lib/systemd/system/${unit}`]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.equal(verify.stderr.trim(), '', `${unit}: no warning`);
      const docs = (await show(unit, 'Documentation'))['Documentation']?.split(' ').filter(Boolean) ?? [];
      assert.ok(docs.length > 0, unit);
      for (const doc of docs) await container().sh(`test -s ${doc.replace(/^file:\/\//, '')}`);
      const security = await container().exec('systemd-analyze', ['security', '--no-pager', unit]);
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1]);
      scores.push(`${unit} ${score}`);
      assert.ok(score <= EXPOSURE_GOAL, `${unit}: exposure ${score} > ${EXPOSURE_GOAL}\n${security.stdout}`);
    }
    console.log(`# systemd-analyze security: ${scores.join(', ')}`);
  });

  it("the bridge's name owned by another process (phosphor-networkd's LLDP service, here a second bridge): exit 73, one line, not restarted; it starts once the name is free", async () => {
    await container().sh(`systemctl stop ${BRIDGE}`);
    // The other owner: a transient unit (no BusName=: systemd lets one unit only claim a name).
    await container().sh('systemd-run --unit=lldp-other-owner /usr/bin/node /usr/lib/provisioningd/lldp-bridge.js');
    try {
      const { MainPID: other } = await show('lldp-other-owner.service', 'MainPID');
      const ownerPid = () => busOwnerPid(container(), 'xyz.openbmc_project.LLDP');
      assert.ok(await eventually(async () => (await ownerPid()) === `u ${other}`, UNIT_DEADLINE_MS, 250), `the other process owns the name: ${await ownerPid()}`);
      const since = (await container().sh('date +%s.%N')).trim();
      await container().sh(`systemctl start ${BRIDGE} || true`);
      // Failed, not restarting: Restart=on-failure would show activating/auto-restart instead.
      const failed = await waitFor(BRIDGE, 'failed', (p) => p['ActiveState'] === 'failed', ['ActiveState', 'ExecMainStatus', 'NRestarts']);
      assert.equal(failed['ExecMainStatus'], '73');
      assert.equal(failed['NRestarts'], '0');
      const out = await container().sh(`journalctl -o json --no-pager -t lldp-bridge --since @${since}`);
      const errors = out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e['PRIORITY'] === '3');
      assert.equal(errors.length, 1, JSON.stringify(errors.map((e) => e['MESSAGE'])));
      assert.match(String(errors[0]?.['MESSAGE']), /cannot own xyz\.openbmc_project\.LLDP: another process owns it/);
    } finally {
      await container().sh('systemctl stop lldp-other-owner.service');
    }
    await container().sh(`systemctl reset-failed ${BRIDGE} && systemctl start ${BRIDGE}`);
    await active(BRIDGE);
  });
});

