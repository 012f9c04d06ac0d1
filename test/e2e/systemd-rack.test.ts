/**
 * Two BMCs as two booted Debian containers (systemd-nspawn, each its own systemd, system bus, journald
 * and lldpd, the daemons on Node 22), each on its own network namespace of a rack segment, each with
 * the .deb installed and its own software token. Everything is set up as an operator would: the
 * configuration files, lldpd's, and attestationd's identity as docs/attestation.md tells (one
 * device CA, made on the host, certifies both; each BMC's reference manifest lists what the other
 * measures). No CA is placed by hand: both provision themselves, find each other by LLDP and are
 * refused; one ProvisionPeer on bmc-1 has them attest each other over SPDM, and the link comes up,
 * attested, on both sides. A mixed rack: bmc-1's system bus is dbus-daemon (Debian's), bmc-2's
 * dbus-broker (OpenBMC's), so that attestationd's calls and signals to provisioningd go through both.
 * Skipped, with the reason, where nspawn cannot run.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PEER_INTERFACE, peerObjectPath } from '../../src/dbus/peer-objects.ts';
import { giveIdentityScript } from '../harness/container-identity.ts';
import { eventually, REPO, STATUS } from '../harness/daemon.ts';
import { createRack, type Rack, type RackNode } from '../harness/netns.ts';
import { mustRun } from '../harness/run-tool.ts';
import { bootContainer, type Container, containerRootfs, containerUnavailable, packageContainerInputs, SYSTEM_BUS_PROGRAMS, type SystemBus, systemBusProgram, unitProperties } from '../harness/systemd-container.ts';

const SUBNET = 83;
const SETUP_DEADLINE_MS = 30 * 60_000;
/** Nets for a loaded machine: discovery + a refused handshake; two attestations and a link. */
const DISCOVERY_DEADLINE_MS = 120_000;
const ATTEST_DEADLINE_MS = 180_000;
const PROVISIONING = 'xyz.openbmc_project.Provisioning.service';
const ATTESTATION = 'xyz.openbmc_project.attestation.service';
const BRIDGE = 'lldp-bridge.service';

/** One BMC: its rack node, its container and its configuration as written. */
interface Bmc {
  readonly node: RackNode;
  readonly container: Container;
  readonly provisioningConf: string;
}

/** The system bus of each BMC, in rack order. */
const BUSES: readonly SystemBus[] = ['dbus-daemon', 'dbus-broker'];

const provisioningConf = (name: string) => `${JSON.stringify({ name, retry_timer: 5 })}\n`;
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

const unavailable = (await containerUnavailable(BUSES[0])) ?? (await containerUnavailable(BUSES[1]));

describe('two BMCs as booted containers on a rack segment: the .deb, LLDP, attestation both ways, the link', { skip: unavailable }, () => {
  let rack: Rack | undefined;
  let ca = '';
  let removePackage = () => {};
  const bmcs: Bmc[] = [];

  const busctl = (bmc: Bmc, ...args: string[]) => bmc.container.exec('busctl', args);
  const peerProperty = async (of: Bmc, peer: Bmc, name: string) => {
    const r = await busctl(of, 'get-property', 'xyz.openbmc_project.Provisioning', peerObjectPath(peer.node.name), PEER_INTERFACE, name);
    return r.code === 0 ? r.stdout.trim() : `(${r.stderr.trim()})`;
  };
  const journals = async () => {
    const parts = await Promise.all(
      bmcs.map(async (b) => `--- ${b.node.name}\n${(await b.container.exec('journalctl', ['--no-pager', '-n', '60', '-t', 'provisioningd', '-t', 'attestationd', '-t', 'lldp-bridge'])).stdout}`),
    );
    return parts.join('\n');
  };
  const waitPeer = async (of: Bmc, peer: Bmc, name: string, check: (v: string) => boolean, what: string, deadlineMs: number) => {
    let last = '';
    const ok = await eventually(async () => {
      last = await peerProperty(of, peer, name);
      return check(last);
    }, deadlineMs, 500);
    assert.ok(ok, `${of.node.name} → ${peer.node.name}: ${what}; ${name} is ${last}\n${await journals()}`);
  };

  before(
    async () => {
      const inputs = await packageContainerInputs(REPO);
      removePackage = inputs.remove;
      const { node, deb, debDir } = inputs;
      const rootfs = (bus: SystemBus) => containerRootfs((line) => console.log(`# ${line}`), bus);
      rack = await createRack({ size: 2, subnet: SUBNET });
      // The device CA, the manufacturer's in real life: it certifies both identities; both trust it.
      ca = mkdtempSync(join(tmpdir(), 'pd-rack-ca-'));
      await mustRun('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(ca, 'device-ca.key'),
        '-subj', '/CN=rack test device CA', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign', '-out', join(ca, 'device-ca.pem'),
      ]);
      // What each BMC measures (attestationd's defaults): the installed provisioningd.js, and its configuration.
      const bundle = readFileSync(join(debDir, 'root/usr/lib/provisioningd/provisioningd.js'));
      const manifest = {
        version: 1,
        measurements: [
          { index: 1, description: 'provisioningd bundle', sha256: [sha256(bundle)] },
          { index: 2, description: 'provisioning.conf', sha256: rack.nodes.map((n) => sha256(provisioningConf(n.name))) },
        ],
      };
      writeFileSync(join(ca, 'reference-manifest.json'), JSON.stringify(manifest, null, 2));
      for (const [i, n] of rack.nodes.entries()) {
        const container = await bootContainer({
          name: n.name,
          rootfs: await rootfs(BUSES[i] ?? 'dbus-daemon'),
          node,
          netns: n.ns,
          bindRo: { [debDir]: '/mnt/pkg', [ca]: '/mnt/ca' },
        });
        const bmc: Bmc = { node: n, container, provisioningConf: provisioningConf(n.name) };
        bmcs.push(bmc);
        await container.sh(`mkdir -p /var/provisioning && cat > /var/provisioning/provisioning.conf`, { input: bmc.provisioningConf });
        await container.sh(
          `cat > /etc/lldpd.d/rack.conf && systemctl restart lldpd`,
          { input: `configure system hostname ${n.name}\nconfigure system ip management pattern ${rack.managementPattern}\nconfigure lldp tx-interval 1\n` },
        );
        await container.sh(`dpkg -i /mnt/pkg/${basename(deb)}`);
        // docs/attestation.md, "The identity", signed with the shared device CA.
        await container.sh(giveIdentityScript(n.name, { cert: '/mnt/ca/device-ca.pem', key: '/mnt/ca/device-ca.key' }));
        await container.sh(`cp /mnt/ca/reference-manifest.json /etc/attestation/reference-manifest.json && systemctl restart ${ATTESTATION}`);
      }
    },
    { timeout: SETUP_DEADLINE_MS },
  );
  after(
    async () => {
      for (const b of bmcs) await b.container.stop();
      await rack?.teardown();
      if (ca) rmSync(ca, { recursive: true, force: true });
      removePackage();
    },
    { timeout: 120_000 },
  );

  it('self-provision → LLDP discovery, refused without trust → ProvisionPeer(bmc-2) on bmc-1 → attested both ways over SPDM → Connected on both sides', async () => {
    const [a, b] = bmcs;
    assert.ok(a && b);
    for (const [i, bmc] of bmcs.entries()) {
      // The bus is the one this BMC was given.
      const bus = BUSES[i] ?? 'dbus-daemon';
      assert.equal(await systemBusProgram(bmc.container), SYSTEM_BUS_PROGRAMS[bus], `${bmc.node.name} runs ${bus}`);
      for (const unit of [PROVISIONING, ATTESTATION, BRIDGE]) {
        const ok = await eventually(async () => (await unitProperties(bmc.container, unit, ['ActiveState']))['ActiveState'] === 'active', 60_000, 250);
        assert.ok(ok, `${bmc.node.name}: ${unit} active\n${await journals()}`);
      }
      const self = await busctl(bmc, 'call', 'xyz.openbmc_project.Provisioning', '/xyz/openbmc_project/Provisioning', 'xyz.openbmc_project.Provisioning.Provisioning', 'ProvisionPeer', 's', 'self');
      assert.equal(self.code, 0, self.stderr);
    }
    // Each found the other by LLDP and dialled it; without attestation the handshake is refused.
    for (const [x, y] of [[a, b], [b, a]] as const) {
      await waitPeer(x, y, 'lastFailure', (v) => v.includes('LINK_REJECTED'), 'discovered and refused without trust', DISCOVERY_DEADLINE_MS);
      assert.equal(await peerProperty(x, y, 'attested'), 'b false');
    }

    const call = await busctl(a, 'call', 'xyz.openbmc_project.Provisioning', '/xyz/openbmc_project/Provisioning', 'xyz.openbmc_project.Provisioning.Provisioning', 'ProvisionPeer', 's', b.node.name);
    assert.equal(call.code, 0, call.stderr);
    for (const [x, y] of [[a, b], [b, a]] as const) {
      await waitPeer(x, y, 'peerConnected', (v) => v === `s "${STATUS}.Connected"`, 'Connected', ATTEST_DEADLINE_MS);
      assert.equal(await peerProperty(x, y, 'attested'), 'b true', `${x.node.name} attested ${y.node.name}`);
    }
    // Each attestationd attested the other over the segment, and says so in its journal.
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const log = (await x.container.exec('journalctl', ['--no-pager', '-t', 'attestationd'])).stdout;
      assert.match(log, new RegExp(`peer=${y.node.name}.*event=ATTESTED|event=ATTESTED.*peer=${y.node.name}`), `${x.node.name}'s attestationd attested ${y.node.name}\n${log}`);
    }
  });
});
