import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/index.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, getProperty, IFACE, OBJECT, SERVICE, type DaemonHandle, type DaemonOptions } from '../harness/daemon.ts';
import { dbusSend } from '../harness/dbus-send.ts';
import { fillUntilFull } from '../harness/fill-file-system.ts';
import { stopProcess } from '../harness/stop-process.ts';
import { checkSelfProvisioningFiles, selfProvisioningFilesExist } from '../harness/self-provisioning-files.ts';
import { makeFifo, releaseFifoReaders } from '../harness/stalled-file-system.ts';

const NAME = 'bmc-persist';
const PROVISIONED_STATE = { version: 2, provisioned: true };
const UNPROVISIONED_STATE = { version: 2, provisioned: false };
/** Longer than the state's retries wait at the most (60 s), for a retry after the disk has room again. */
const RETRY_DEADLINE_MS = 90_000;
const EX_CONFIG = 78;
/** Runs the daemon as systemd's unit does: root without any capability (CapabilityBoundingSet= empty). */
const WITHOUT_CAPABILITIES = ['setpriv', '--bounding-set=-all', '--inh-caps=-all'];

describe('persistence across restarts', () => {
  const fixture = useBusFixture();
  const theBus = fixture.bus;
  const freshDir = () => fixture.tempDir('pd-persist-');
  const start = (opts: Partial<DaemonOptions>) => fixture.startDaemon({ config: { name: NAME }, ...opts });
  afterEach(() => fixture.stopDaemons(), { timeout: 120_000 });
  const stateFile = (d: DaemonHandle) => join(String(d.config['state_dir']), 'state.json');
  const certRoot = (d: DaemonHandle) => String(d.config['cert_root']);
  /** ProvisionPeer(<peer>) as busctl runs it; it must be accepted. */
  const provisionPeerCall = async (peer: string) => {
    const r = await busctl(theBus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', peer);
    assert.equal(r.code, 0, r.stderr);
  };
  const provisionSelf = async () => {
    const r = await busctl(theBus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(r.code, 0, r.stderr);
  };
  const exitOf = (d: DaemonHandle) => withTimeout(d.exited(), 15_000, `daemon ${d.pid} exit`);
  const nameOwned = async () => (await busctl(theBus(), 'status', SERVICE)).code === 0;
  const corruptCopies = (d: DaemonHandle) => {
    const dir = String(d.config['state_dir']);
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('state.json.corrupt-')) : [];
  };

  it('provisioned survives a clean restart (SIGTERM exits 0 and releases the bus name)', async () => {
    const dir = freshDir();
    const first = await start({ dir });
    await provisionSelf();
    const before = await checkSelfProvisioningFiles({ certRoot: certRoot(first), name: NAME });
    const chainBefore = readFileSync(certPaths(certRoot(first)).serverChain, 'utf8');
    assert.deepEqual(JSON.parse(readFileSync(stateFile(first), 'utf8')), PROVISIONED_STATE);

    first.kill('SIGTERM');
    assert.deepEqual(await exitOf(first), { code: 0, signal: null }, first.output());
    assert.match(first.output(), /stopping: SIGTERM/);
    assert.equal(await nameOwned(), false, 'busctl status: the name has no owner');
    const list = await busctl(theBus(), 'list', '--no-pager');
    assert.ok(!list.stdout.includes(SERVICE), 'busctl list no longer shows the name');

    const second = await start({ dir });
    assert.equal(await getProperty(theBus(), 'provisioned'), 'true', 'true as soon as the name is owned');
    // After the restart the CA is found again and fresh leaves are issued from it.
    const serverChain = certPaths(certRoot(second)).serverChain;
    const reissued = await eventually(() => readFileSync(serverChain, 'utf8') !== chainBefore, 15_000);
    assert.ok(reissued, `fresh leaf certificates after the restart:\n${second.output()}`);
    const afterRestart = await checkSelfProvisioningFiles({ certRoot: certRoot(second), name: NAME });
    assert.equal(afterRestart.caFingerprint, before.caFingerprint, 'the same CA: peers keep trusting this BMC');
  });

  it('SIGKILL right after ProvisionPeer("self") returns: the restart is provisioned, with its files', async () => {
    const dir = freshDir();
    const first = await start({ dir });
    await provisionSelf();
    first.kill('SIGKILL');
    assert.equal((await exitOf(first)).signal, 'SIGKILL');
    assert.deepEqual(JSON.parse(readFileSync(stateFile(first), 'utf8')), PROVISIONED_STATE);

    const second = await start({ dir });
    assert.equal(await getProperty(theBus(), 'provisioned'), 'true');
    await checkSelfProvisioningFiles({ certRoot: certRoot(second), name: NAME });
    assert.deepEqual(corruptCopies(second), []);
  });

  /** SIGKILLs the daemon the moment its log shows `moment` (so the moment does not depend on load). */
  const killWhenLogged = async (d: DaemonHandle, moment: RegExp) => {
    const seen = new Promise<void>((resolve) => {
      const check = () => {
        if (!moment.test(d.output())) return;
        d.process.stderr?.off('data', check);
        d.kill('SIGKILL');
        resolve();
      };
      d.process.stderr?.on('data', check);
      check();
    });
    await withTimeout(seen, 15_000, `the log line ${String(moment)}`).catch((err: unknown) => {
      throw new Error(`${String(err)}:\n${d.output()}`);
    });
    await exitOf(d);
  };

  // Kill while ProvisionPeer("self") is in flight: before the issuance, with the CA key made but no
  // certificate yet, with the certificates written, and once D-Bus has said provisioned=true (from
  // then on a restart must be provisioned too: what clients were told is never taken back).
  const moments: Array<{ when: string; moment: RegExp; announced: boolean }> = [
    { when: 'when the request reaches the machine', moment: /event=PROVISION_SELF/, announced: false },
    { when: 'right after the CA key is generated', moment: /event=CA_KEY_GENERATED/, announced: false },
    { when: 'right after the certificates are issued', moment: /event=CERTIFICATES_ISSUED/, announced: false },
    { when: 'right after provisioned=true is announced on D-Bus', moment: /D-Bus properties changed/, announced: true },
  ];
  for (const { when, moment, announced } of moments) {
    it(`SIGKILL ${when}: the restart is consistent`, async (t) => {
      const dir = freshDir();
      const first = await start({ dir });
      const call = fixture.track(
        spawn('busctl', ['call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self'], {
          env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: theBus().address },
          stdio: 'ignore',
        }),
      );
      try {
        await killWhenLogged(first, moment);
      } finally {
        await stopProcess(call);
      }

      const file = stateFile(first);
      if (existsSync(file)) {
        // Whatever is on disk is a whole state, never a torn one.
        assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), PROVISIONED_STATE);
      }
      const second = await start({ dir });
      assert.doesNotMatch(second.output(), /STATE_FILE_CORRUPT/);
      assert.deepEqual(corruptCopies(second), []);
      const provisioned = await getProperty(theBus(), 'provisioned');
      t.diagnostic(`after the restart: provisioned=${provisioned}`);
      if (announced) assert.equal(provisioned, 'true', 'announced on D-Bus before the kill');
      if (provisioned === 'true') {
        assert.ok(existsSync(file), 'provisioned comes from the state file');
        await checkSelfProvisioningFiles({ certRoot: certRoot(second), name: NAME });
      } else {
        assert.equal(provisioned, 'false');
        await provisionSelf();
        assert.equal(await getProperty(theBus(), 'provisioned'), 'true');
        await checkSelfProvisioningFiles({ certRoot: certRoot(second), name: NAME });
      }
    });
  }

  const corruptCases: Array<{ what: string; bad: string }> = [
    { what: 'a truncated state.json', bad: `${JSON.stringify(PROVISIONED_STATE)}\n`.slice(0, 20) },
    { what: 'a garbage state.json', bad: '\u0000\u0001 not a state file \u00ff\n' },
  ];
  for (const { what, bad } of corruptCases) {
    it(`${what}: warned about by name, kept aside, not provisioned, and ProvisionPeer("self") works`, async () => {
      const dir = freshDir();
      const stateDir = join(dir, 'state');
      mkdirSync(stateDir, { mode: 0o700 });
      const file = join(stateDir, 'state.json');
      writeFileSync(file, bad);

      const second = await start({ dir, config: { name: NAME, state_dir: stateDir } });
      assert.equal(second.process.exitCode, null, 'the daemon runs');
      const warning = second.output().split('\n').find((l) => l.includes(file) && /\bwarn\b/.test(l));
      assert.ok(warning, `a warning naming ${file}:\n${second.output()}`);
      assert.match(warning, /not provisioned/);
      assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
      const aside = corruptCopies(second);
      assert.equal(aside.length, 1);
      const [kept] = aside;
      assert.ok(kept);
      assert.equal(readFileSync(join(String(second.config['state_dir']), kept), 'utf8'), bad, 'the bad file is kept as it was');

      await provisionSelf();
      assert.equal(await getProperty(theBus(), 'provisioned'), 'true');
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), PROVISIONED_STATE);
      await checkSelfProvisioningFiles({ certRoot: certRoot(second), name: NAME });
    });
  }

  /** A state_dir under a fresh directory, holding what `make` puts there. */
  const stateDirWith = (make: (file: string) => void) => {
    const dir = freshDir();
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    const file = join(stateDir, 'state.json');
    make(file);
    return { dir, stateDir, file };
  };
  /** Starts the daemon on a state_dir it must refuse, and waits for its exit: 78 and one line, the name never owned. */
  const assertRefusedStart = async (o: { dir: string; stateDir: string; wrap?: string[]; line: RegExp }) => {
    const d = await start({ dir: o.dir, waitForName: false, config: { name: NAME, state_dir: o.stateDir }, ...(o.wrap ? { wrap: o.wrap } : {}) });
    const exit = await d.exited();
    assert.deepEqual(exit, { code: EX_CONFIG, signal: null }, d.output());
    const lines = d.output().trimEnd().split('\n');
    assert.equal(lines.length, 1, `one line:\n${d.output()}`);
    assert.match(lines[0] ?? '', o.line);
    assert.equal(await nameOwned(), false, 'the name was never owned');
  };

  it('a state.json the daemon cannot read (EACCES) is never overwritten: exit 78, one line naming it, the file as it was', async () => {
    const provisioned = `${JSON.stringify({ ...PROVISIONED_STATE, peers: { 'bmc-b': { lastAttestedMs: 1_700_000_000_000, verdict: 'passed' } } })}\n`;
    const { dir, stateDir, file } = stateDirWith((f) => {
      writeFileSync(f, provisioned);
      chmodSync(f, 0o000);
    });
    await assertRefusedStart({
      dir,
      stateDir,
      wrap: WITHOUT_CAPABILITIES,
      line: new RegExp(`provisioningd: STATE_FILE_UNREADABLE: ${file} cannot be read \\(EACCES.*left as it is`),
    });
    assert.equal(readFileSync(file, 'utf8'), provisioned, 'what this BMC remembered is still there');
    assert.equal(statSync(file).mode & 0o777, 0o000);
    assert.deepEqual(readdirSync(stateDir), ['state.json'], 'nothing written beside it');
  });

  it('a state.json that is a directory (EISDIR): exit 78, left as it is', async () => {
    const { dir, stateDir, file } = stateDirWith((f) => mkdirSync(f));
    await assertRefusedStart({ dir, stateDir, line: new RegExp(`STATE_FILE_UNREADABLE: ${file} cannot be read \\(EISDIR`) });
    assert.ok(statSync(file).isDirectory());
  });

  it('a state.json that is a FIFO (a read that would never end): exit 78 at once, left as it is', async () => {
    const { dir, stateDir, file } = stateDirWith((f) => makeFifo(f));
    try {
      await assertRefusedStart({ dir, stateDir, line: new RegExp(`STATE_FILE_UNREADABLE: ${file} cannot be read \\(not a regular file`) });
      assert.ok(statSync(file).isFIFO(), 'left in place');
    } finally {
      releaseFifoReaders(file);
    }
  });

  it('a corrupt state.json that cannot be moved aside (immutable): exit 78, saying nothing was kept aside; the file as it was', async () => {
    const bad = '{"version":2,"provisi';
    const { dir, stateDir, file } = stateDirWith((f) => {
      writeFileSync(f, bad);
      execFileSync('chattr', ['+i', f], { timeout: 10_000 });
    });
    try {
      await assertRefusedStart({ dir, stateDir, line: new RegExp(`STATE_FILE_CORRUPT: ${file} is not valid JSON.*could not be moved aside \\(EPERM.*nothing was kept aside`) });
      assert.equal(readFileSync(file, 'utf8'), bad);
      assert.deepEqual(readdirSync(stateDir), ['state.json'], 'no copy made');
    } finally {
      execFileSync('chattr', ['-i', file], { timeout: 10_000 });
    }
  });

  it('ProvisionPeer("self") whose state file cannot be written answers InternalFailure STATE_WRITE (no stack), and works once it can', async () => {
    const dir = freshDir();
    const d = await start({ dir });
    // Read at the start; from now on every write of state.json fails (a file cannot be renamed over a directory).
    const file = stateFile(d);
    mkdirSync(file, { recursive: true });

    const sent = await dbusSend({ bus: theBus(), args: ['string:self'] });
    assert.equal(sent.errorName, 'xyz.openbmc_project.Common.Error.InternalFailure', sent.stderr);
    const call = await busctl(theBus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.notEqual(call.code, 0);
    for (const text of [sent.stderr, call.stderr]) {
      assert.match(text, /STATE_WRITE: the certificates were issued, but the state file could not be written: EISDIR/);
      assert.doesNotMatch(text, / {4}at /, 'no stack trace');
    }
    assert.ok(await d.waitForOutput(/self provisioning failed: .* code=STATE_WRITE/), d.output());

    rmSync(file, { recursive: true });
    await provisionSelf();
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), PROVISIONED_STATE);
  });

  /**
   * A daemon whose state_dir is a 64 KiB tmpfs in a mount namespace of its own, holding a state
   * file of an earlier run (not provisioned) and, with `key`, the software token's CA key; returns
   * the daemon and that directory as it sees it (its mount namespace, seen from this process).
   */
  const startOnTinyStateDir = async (opts: { readonly key: boolean }) => {
    const dir = freshDir();
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { recursive: true });
    const steps = [
      'mount -t tmpfs -o size=64k,mode=0700 tmpfs "$0"',
      `printf '%s' '${JSON.stringify(UNPROVISIONED_STATE)}' > "$0/state.json"`,
      ...(opts.key ? ['mkdir -m 0700 "$0/software-token"', '(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$0/software-token/ca-key.pem")'] : []),
      'exec "$@"',
    ];
    const d = await start({
      dir,
      config: { name: NAME, state_dir: stateDir, listen_addresses: ['127.0.0.1'] },
      wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', steps.join(' && '), stateDir],
    });
    return { d, seen: `/proc/${d.pid}/root${stateDir}` };
  };
  const stateIn = (seen: string) => JSON.parse(readFileSync(join(seen, 'state.json'), 'utf8')) as unknown;

  it('a full disk under state_dir: ProvisionPeer("self") answers STATE_WRITE ENOSPC, the old state.json is intact and no temp file is left; it works once there is room', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root: state_dir is a tiny tmpfs in a mount namespace of the daemon alone');
    const { d, seen } = await startOnTinyStateDir({ key: true });
    assert.deepEqual(stateIn(seen), UNPROVISIONED_STATE);
    const fill = join(seen, 'fill');
    fillUntilFull(fill);

    const sent = await dbusSend({ bus: theBus(), args: ['string:self'] });
    assert.equal(sent.errorName, 'xyz.openbmc_project.Common.Error.InternalFailure', sent.stderr);
    assert.match(sent.stderr, /STATE_WRITE: the certificates were issued, but the state file could not be written: ENOSPC/);
    assert.ok(await d.waitForOutput(/self provisioning failed: .*ENOSPC.* code=STATE_WRITE/), d.output());
    assert.deepEqual(stateIn(seen), UNPROVISIONED_STATE, 'the old state is intact');
    // Events while the disk is full (five new peers) cost no write of their own: each failed try is
    // a retry, waiting twice as long as the one before.
    for (const peer of ['bmc-x1', 'bmc-x2', 'bmc-x3', 'bmc-x4', 'bmc-x5']) await provisionPeerCall(peer);
    assert.ok(await d.waitForOutput(/cannot persist the peers' attestations: ENOSPC.*; trying again in 1 s/), d.output());
    const failures = d.output().split('\n').filter((l) => l.includes("cannot persist the peers' attestations"));
    const waits = failures.map((l) => Number(/; trying again in (\d+) s/.exec(l)?.[1]));
    assert.deepEqual(waits, waits.map((_, i) => 2 ** i), `one failed write per retry, each waiting twice as long:\n${failures.join('\n')}`);

    // Room again: the retry writes the flag by itself, and says so.
    rmSync(fill);
    assert.ok(await eventually(() => JSON.stringify(stateIn(seen)) === JSON.stringify(PROVISIONED_STATE), RETRY_DEADLINE_MS, 100), d.output());
    assert.ok(await d.waitForOutput(/the state file is written again after failed writes.*event=STATE_WRITE_RECOVERED/), d.output());
    await provisionSelf();
    assert.deepEqual(stateIn(seen), PROVISIONED_STATE);
    // Checked once the writes have succeeded: while the disk was full a write could be under way at
    // any moment (the state is tried again on the next change), but none may leave its temp file.
    assert.deepEqual(tempFilesIn(seen), [], 'no temp file left behind');
  });

  it('a full disk under state_dir before the software token has a CA key: ProvisionPeer("self") fails saying the new key could not be written (ENOSPC), leaves no partial key, and works once there is room', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root: state_dir is a tiny tmpfs in a mount namespace of the daemon alone');
    const { d, seen } = await startOnTinyStateDir({ key: false });
    const fill = join(seen, 'fill');
    fillUntilFull(fill);

    const sent = await dbusSend({ bus: theBus(), args: ['string:self'] });
    assert.equal(sent.errorName, 'xyz.openbmc_project.Common.Error.Unavailable', sent.stderr);
    assert.match(sent.stderr, /FAILED: software token: writing a new CA key to \S+\/software-token\/ca-key\.pem: ENOSPC/);
    assert.doesNotMatch(sent.stderr, / {4}at /, 'no stack trace');
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
    const tokenDir = join(seen, 'software-token');
    assert.deepEqual(existsSync(tokenDir) ? readdirSync(tokenDir) : [], [], 'no partial key and no temp file');
    assert.deepEqual(tempFilesIn(seen), []);
    assert.deepEqual(stateIn(seen), UNPROVISIONED_STATE);
    assert.doesNotMatch(d.output(), /BEGIN PRIVATE KEY/);

    rmSync(fill);
    await provisionSelf();
    assert.deepEqual(readdirSync(tokenDir), ['ca-key.pem']);
    assert.deepEqual(stateIn(seen), PROVISIONED_STATE);
    await checkSelfProvisioningFiles({ certRoot: certRoot(d), name: NAME });
  });

  it('a state_dir that does not exist yet is created on the first provisioning', async () => {
    const dir = freshDir();
    const stateDir = join(dir, 'deep/not/yet/there');
    const d = await start({ dir, config: { name: NAME, state_dir: stateDir } });
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
    await provisionSelf();
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')), PROVISIONED_STATE);
    assert.ok(selfProvisioningFilesExist(certRoot(d)));
  });
});

/** The atomic writes' temp files (`.<name>.<random>.tmp`) anywhere under `dir`: none once every write has ended. */
function tempFilesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /(^|\/)\.[^/]*\.tmp$/.test(f));
}
