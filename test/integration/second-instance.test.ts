/**
 * A second provisioningd started with the same configuration while one runs: it owns nothing, so it
 * must change nothing. Its start would otherwise act on what it finds on disk (a corrupt state.json
 * moved aside, attested CAs moved out of bmcweb's old trust store, bindings of peers the state file
 * records as revoked removed); here each of those is waiting for it, under the running instance's
 * feet, where the running instance itself does not look again. The second exits 69 with one line,
 * every file under state_dir (the trust store included) and cert_root is as it was, byte for byte
 * and inode for inode, and the first instance still answers.
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { certificateFingerprint, legacyAuthorityDirOf } from '../../src/pki/trust/index.ts';
import { opensslSubjectHash } from '../../src/pki/trust/openssl-subject-hash.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, getProperty, IFACE, OBJECT, SERVICE, type DaemonHandle } from '../harness/daemon.ts';
import { makeTestCa } from '../harness/openssl-test-ca.ts';
import { selfProvisioningFilesExist } from '../harness/self-provisioning-files.ts';

const EX_UNAVAILABLE = 69;
const DEADLINE_MS = 60_000;
const PEER = 'bmc-peer';

/**
 * Every entry under `root`: its type, mode, inode and mtime, and a file's content hash or a link's
 * target. A file moved aside, created, removed, rewritten (even with the same bytes: an atomic write
 * is a new inode) or touched changes it.
 */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const what = st.isSymbolicLink()
        ? `link -> ${readlinkSync(path)}`
        : st.isDirectory()
          ? 'dir'
          : st.isFile()
            ? `file sha256=${createHash('sha256').update(readFileSync(path)).digest('hex')}`
            : 'other';
      out[relative(root, path)] = `${what} mode=${(st.mode & 0o7777).toString(8)} ino=${st.ino} mtime=${st.mtimeMs}`;
      if (st.isDirectory()) walk(path);
    }
  };
  walk(root);
  return out;
}

describe('a second instance changes nothing on disk', () => {
  const fixture = useBusFixture();
  afterEach(() => fixture.stopDaemons(), { timeout: 120_000 });

  /** An attested CA for PEER as a version before the private trust store left it in bmcweb's directory, with its hash link. */
  const placeLegacyAttestedCa = async (certRoot: string) => {
    const work = fixture.tempDir('pd-legacy-ca-');
    const ca = await makeTestCa({ dir: work, stem: 'peer-ca', subject: `/CN=${PEER} Provisioning CA` });
    const dir = legacyAuthorityDirOf(certRoot);
    mkdirSync(dir, { recursive: true });
    const file = `${certificateFingerprint(new X509Certificate(ca.pem))}.pem`;
    writeFileSync(join(dir, file), `Attested-Name: ${PEER}\n${ca.pem}`);
    symlinkSync(file, join(dir, `${await opensslSubjectHash(ca.pem)}.0`));
  };

  /** What the running instance's start has already dealt with, laid out again where it does not look any more. */
  const cases: Array<{ what: string; stateJson: string }> = [
    { what: 'a corrupt state.json and an attested CA in the old trust store', stateJson: '{"version":2,"provisi' },
    {
      what: 'a state.json recording a peer as revoked, its attested CA in the old trust store',
      stateJson: `${JSON.stringify({ version: 2, provisioned: true, peers: { [PEER]: { lastAttestedMs: 1_700_000_000_000, verdict: 'revoked' } } })}\n`,
    },
  ];

  for (const { what, stateJson } of cases) {
    it(`${what}: the second exits 69 with one line, every file is as it was, the first still answers`, async () => {
      const first = await fixture.startDaemon({ config: { name: 'bmc-one' } });
      const certRoot = String(first.config['cert_root']);
      const stateDir = String(first.config['state_dir']);
      const provision = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
      assert.equal(provision.code, 0, provision.stderr);
      assert.ok(await eventually(() => selfProvisioningFilesExist(certRoot), DEADLINE_MS), `the first wrote its certificates:\n${first.output()}`);

      writeFileSync(join(stateDir, 'state.json'), stateJson);
      await placeLegacyAttestedCa(certRoot);
      const before = { state: snapshot(stateDir), certs: snapshot(certRoot) };

      const second: DaemonHandle = await fixture.startDaemon({ dir: fixture.tempDir('pd-second-'), waitForName: false, config: first.config });
      const exit = await second.exited();
      assert.deepEqual(exit, { code: EX_UNAVAILABLE, signal: null }, second.output());
      const lines = second.output().trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line:\n${second.output()}`);
      assert.match(lines[0] ?? '', /provisioningd: cannot start: cannot own xyz\.openbmc_project\.Provisioning: another process owns it .*changed nothing on disk/);

      assert.deepEqual(snapshot(stateDir), before.state, 'state_dir and the trust store in it are as they were');
      assert.deepEqual(snapshot(certRoot), before.certs, 'cert_root, the old trust store included, is as it was');

      assert.equal(first.process.exitCode, null, 'the first instance runs');
      assert.equal(await getProperty(fixture.bus(), 'provisioned'), 'true', `the first instance answers:\n${first.output()}`);
      const again = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
      assert.equal(again.code, 0, `the first instance still serves ProvisionPeer: ${again.stderr}\n${first.output()}`);
    });
  }
});
