/**
 * Upgrading from a version that kept the attested peer CAs in `<cert_root>etc/ssl/certs/authority/`
 * (bmcweb's trust store for Redfish clients on OpenBMC): our bound CAs move to the private trust
 * store, everything else stays, `openssl verify -CApath` keeps working on both directories, and a
 * move interrupted at any step is finished by the next start.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/index.ts';
import { certificateFingerprint, legacyAuthorityDirOf, migrateLegacyTrustStore, TrustStore } from '../../src/pki/trust/index.ts';
import { opensslSubjectHash } from '../../src/pki/trust/openssl-subject-hash.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { captureLog } from '../harness/capture-log.ts';
import { busctl, eventually, IFACE, OBJECT, SERVICE } from '../harness/daemon.ts';
import { daemonTrustDir } from '../harness/daemon-trust-dir.ts';
import { makeTestCa, makeTestLeaf, type TestCa } from '../harness/openssl-test-ca.ts';
import { runTool } from '../harness/run-tool.ts';
import { selfProvisioningFilesExist } from '../harness/self-provisioning-files.ts';

const DEADLINE_MS = 60_000;

/** `openssl verify -CApath dir` with no other trust source: true when the leaf chains to a CA there. */
async function verifies(dir: string, leaf: string): Promise<boolean> {
  return (await runTool('openssl', ['verify', '-no-CAfile', '-no-CAstore', '-CApath', dir, leaf])).code === 0;
}

/** The directory's entries: files by name, links as `name -> target`. */
function entries(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .map((d) => (d.isSymbolicLink() ? `${d.name} -> ${readlinkSync(join(dir, d.name))}` : d.name))
    .sort();
}

describe('moving our attested CAs out of bmcweb’s authority directory', () => {
  let work: string;
  let ours: TestCa; // attested for bmc-peer by an older provisioningd
  let foreign: TestCa; // bmcweb's: a Redfish client CA, with the same subject (same hash) as ours
  let hand: TestCa; // placed by hand under a name like ours, but without a binding
  let oursLeaf: string;
  let foreignLeaf: string;
  let oursFile: string;
  let handFile: string;
  let hash: string;
  let handHash: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'trust-migration-'));
    [ours, foreign, hand] = await Promise.all([
      makeTestCa({ dir: work, stem: 'ours', subject: '/CN=bmc-peer Provisioning CA' }),
      makeTestCa({ dir: work, stem: 'foreign', subject: '/CN=bmc-peer Provisioning CA' }),
      makeTestCa({ dir: work, stem: 'hand', subject: '/CN=hand placed CA' }),
    ]);
    [oursLeaf, foreignLeaf] = await Promise.all([
      makeTestLeaf({ ca: ours, dir: work, stem: 'ours-leaf', name: 'bmc-peer' }),
      makeTestLeaf({ ca: foreign, dir: work, stem: 'foreign-leaf', name: 'bmc-peer' }),
    ]);
    oursFile = `${certificateFingerprint(new X509Certificate(ours.pem))}.pem`;
    handFile = `${certificateFingerprint(new X509Certificate(hand.pem))}.pem`;
    [hash, handHash] = await Promise.all([opensslSubjectHash(ours.pem), opensslSubjectHash(hand.pem)]);
    assert.equal(await opensslSubjectHash(foreign.pem), hash, 'the test needs ours and the foreign CA in one hash bucket');
  }, { timeout: 60_000 });

  after(() => rmSync(work, { recursive: true, force: true }), { timeout: 10_000 });

  /** The layout an older version leaves: our bound CA at <hash>.0, bmcweb's at <hash>.1, a hand-placed one. */
  function oldLayout(root: string): string {
    const dir = legacyAuthorityDirOf(root);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, oursFile), `Attested-Name: bmc-peer\n${ours.pem}`);
    symlinkSync(oursFile, join(dir, `${hash}.0`));
    writeFileSync(join(dir, 'redfish-client-ca.pem'), foreign.pem);
    symlinkSync('redfish-client-ca.pem', join(dir, `${hash}.1`));
    writeFileSync(join(dir, handFile), hand.pem);
    symlinkSync(handFile, join(dir, `${handHash}.0`));
    return dir;
  }

  /** What the old directory must hold afterwards: everything that is not ours, bmcweb's CA renumbered to .0. */
  const leftBehind = () =>
    [handFile, `${handHash}.0 -> ${handFile}`, `${hash}.0 -> redfish-client-ca.pem`, 'redfish-client-ca.pem'].sort();

  it('moves only our bound CA and its link, logs it once, and openssl -CApath works on both directories', async () => {
    const root = join(work, 'plain/');
    const from = oldLayout(root);
    const to = join(root, 'state/trust');
    assert.ok(await verifies(from, foreignLeaf), 'before: bmcweb’s CA is reachable behind ours (index 1)');
    const captured = captureLog();

    const result = await migrateLegacyTrustStore({ from, to, log: captured.log });

    assert.deepEqual(result, { moved: 1, linksRemoved: 1, leftAlone: 4 });
    assert.deepEqual(entries(from), leftBehind());
    assert.ok(await verifies(from, foreignLeaf), 'bmcweb’s CA is still found by OpenSSL in its own store');
    assert.equal(await verifies(from, oursLeaf), false, 'our CA is no longer trusted through bmcweb’s store');
    assert.deepEqual(entries(to), [oursFile]);
    assert.equal(readFileSync(join(to, oursFile), 'utf8'), `Attested-Name: bmc-peer\n${ours.pem}`);
    assert.equal(statSync(to).mode & 0o777, 0o700);
    assert.equal(statSync(join(to, oursFile)).mode & 0o777, 0o644);

    const store = new TrustStore({ dir: to });
    const [trusted] = await store.list();
    assert.deepEqual(trusted?.attestedNames, ['bmc-peer'], 'still bound to the name it was attested for');
    assert.ok(await verifies(to, oursLeaf), 'openssl verify -CApath works on the new directory');
    assert.equal(await verifies(to, foreignLeaf), false, 'bmcweb’s CA did not come along');

    const lines = captured.lines().filter((l) => /TRUST_STORE_MIGRATED/.test(l));
    assert.equal(lines.length, 1, captured.lines().join('\n'));
    assert.match(lines[0] ?? '', /moved 1 attested peer CA\(s\) from .*authority .*to .*state\/trust; 4 other file\(s\) there left alone/);

    const again = await migrateLegacyTrustStore({ from, to, log: captured.log });
    assert.deepEqual(again, { moved: 0, linksRemoved: 0, leftAlone: 0 }, 'a second start finds nothing of ours');
    assert.equal(captured.lines().filter((l) => /TRUST_STORE_MIGRATED/.test(l)).length, 1, 'and says nothing');
    assert.deepEqual(entries(from), leftBehind());
  });

  it('finishes a move interrupted after the copy, after the link removal, or before the renumbering', async () => {
    const interruptions: Record<string, (from: string, to: string) => void> = {
      'copied, nothing removed yet': (from, to) => {
        mkdirSync(to, { recursive: true, mode: 0o700 });
        writeFileSync(join(to, oursFile), readFileSync(join(from, oursFile)));
      },
      'copied, our link removed, our file not yet': (from, to) => {
        mkdirSync(to, { recursive: true, mode: 0o700 });
        writeFileSync(join(to, oursFile), readFileSync(join(from, oursFile)));
        writeFileSync(join(to, '.legacy-authority-migration.json'), JSON.stringify({ hashes: [hash] }));
        unlinkSync(join(from, `${hash}.0`));
      },
      'everything removed, bmcweb’s link not yet renumbered': (from, to) => {
        mkdirSync(to, { recursive: true, mode: 0o700 });
        writeFileSync(join(to, oursFile), readFileSync(join(from, oursFile)));
        writeFileSync(join(to, '.legacy-authority-migration.json'), JSON.stringify({ hashes: [hash] }));
        unlinkSync(join(from, `${hash}.0`));
        unlinkSync(join(from, oursFile));
      },
      'the new store already bound the CA to another name': (_from, to) => {
        mkdirSync(to, { recursive: true, mode: 0o700 });
        writeFileSync(join(to, oursFile), `Attested-Name: bmc-other\n${ours.pem}`);
      },
    };
    for (const [label, interrupt] of Object.entries(interruptions)) {
      const root = join(work, `${label.replace(/\W+/g, '-')}/`);
      const from = oldLayout(root);
      const to = join(root, 'state/trust');
      interrupt(from, to);
      await migrateLegacyTrustStore({ from, to });
      assert.deepEqual(entries(from), leftBehind(), `${label}: the old directory holds exactly what is not ours`);
      assert.deepEqual(entries(to), [oursFile], `${label}: our CA is in the new store, once, and no journal is left`);
      const [trusted] = await new TrustStore({ dir: to }).list();
      const names = label.includes('another name') ? ['bmc-other', 'bmc-peer'] : ['bmc-peer'];
      assert.deepEqual(trusted?.attestedNames, names, `${label}: no attested name was lost`);
      assert.ok(await verifies(from, foreignLeaf), `${label}: bmcweb’s CA is still found in its store`);
    }
  });

  describe('the daemon', () => {
    const fixture = useBusFixture();

    it('moves them on its first start and still trusts the peer; bmcweb’s CA stays and is not trusted', async () => {
      const dir = fixture.tempDir('trust-migration-daemon-');
      const from = oldLayout(`${join(dir, 'root')}/`);
      const daemon = await fixture.startDaemon({
        dir,
        config: { name: 'bmc-mig', keepalive_interval: 0.2, keepalive_timeout: 0.3, idle_timeout: 1 },
      });
      const to = daemonTrustDir(daemon.config);
      assert.ok(await daemon.waitForOutput(/moved 1 attested peer CA\(s\)/), daemon.output());
      assert.deepEqual(entries(from), leftBehind());
      assert.equal(statSync(to).mode & 0o777, 0o700);
      assert.ok(existsSync(join(to, oursFile)));

      const r = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
      assert.equal(r.code, 0, r.stderr);
      const root = String(daemon.config['cert_root']);
      assert.ok(await eventually(() => selfProvisioningFilesExist(root), DEADLINE_MS), 'bmc-mig wrote its certificates');

      // The peer says Hello with its certificate; -ign_eof keeps s_client reading until the daemon
      // drops the idle connection (idle_timeout), so an alive sent back is always seen.
      const hello = (leaf: string) =>
        runTool(
          'openssl',
          ['s_client', '-connect', `127.0.0.1:${String(daemon.config['port'])}`, '-cert', leaf, '-key', leaf.replace(/\.pem$/, '.key'),
            '-CAfile', certPaths(root).selfCa, '-ign_eof', '-brief'],
          { input: 'Hello\n', timeoutMs: 30_000 },
        );
      const peer = await hello(oursLeaf);
      assert.match(peer.stdout, /alive/, `the attested peer is still trusted after the move\n${peer.stderr}\n${daemon.output()}`);
      const redfishClient = await hello(foreignLeaf);
      assert.doesNotMatch(redfishClient.stdout, /alive/, 'a CA of bmcweb’s store is not trusted by provisioningd');
      assert.equal(daemon.output().split('\n').filter((l) => /moved \d+ attested peer CA/.test(l)).length, 1, 'one log line');
    });

    it('runs on when the move cannot finish, says why, and leaves the old directory as it was', async () => {
      await fixture.stopDaemons();
      const dir = fixture.tempDir('trust-migration-stuck-');
      const from = oldLayout(`${join(dir, 'root')}/`);
      const before = entries(from);
      // The journal's name taken by a directory: the pass cannot even read it.
      mkdirSync(join(dir, 'state/trust/.legacy-authority-migration.json'), { recursive: true });
      const daemon = await fixture.startDaemon({ dir, config: { name: 'bmc-stuck' } });
      assert.ok(
        await daemon.waitForOutput(/cannot move the attested CAs out of .*authority.*code=TRUST_STORE_MIGRATION|TRUST_STORE_MIGRATION.*cannot move/),
        daemon.output(),
      );
      assert.deepEqual(entries(from), before, 'nothing was removed from the old directory');
      const r = await busctl(fixture.bus(), 'get-property', SERVICE, OBJECT, IFACE, 'provisioned');
      assert.equal(r.stdout.trim(), 'b false', `the daemon answers on the bus\n${r.stderr}`);
    });
  });
});
