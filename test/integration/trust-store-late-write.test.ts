/**
 * The trust store when a CA file's write times out in the middle of its rename (a disk that hangs
 * there): the rename still lands afterwards. A binding overtaken by a revocation must not bind the
 * revoked name when it does; the store takes the late file in as memory has it (here: no file) and
 * puts the disk back, also when the disk still hangs while it does, is full by then (that case
 * as root, in a mount namespace with a tiny tmpfs), or fails every removal. The hang is real: strace,
 * attached to this test's own process, holds every rename at its entry for longer than the store's
 * deadline, then lets it go (and, for the failing disk, has every unlink return EIO meanwhile).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { TrustStore } from '../../src/pki/trust/index.ts';
import { type CapturedLog, captureLog } from '../harness/capture-log.ts';
import { eventually, REPO } from '../harness/daemon.ts';
import { runTool } from '../harness/run-tool.ts';
import { injectSyscalls, type SyscallInjection, type SyscallInjectionOptions } from '../harness/syscall-inject.ts';
import { runOnTinyTmpfs, TINY_TMPFS_NEEDS } from '../harness/tiny-tmpfs.ts';
import { useTestPki } from '../harness/test-pki.ts';

/**
 * The store's deadline for one file call: far below the rename's hold, and far above what the write's
 * other steps take on a loaded machine while strace stops this process at each of its system calls.
 */
const FILE_TIMEOUT_MS = 3000;
/** How long strace holds each rename: the test lets it go long before (by stopping strace). */
const RENAME_HOLD_MS = 60_000;
/** How long strace holds each rename while the disk stays slow: the store's deadline passes first, then the rename lands by itself. */
const SLOW_RENAME_MS = 8000;
/** A net for each wait (strace attaching, a call reaching its hold, the store's check). */
const DEADLINE_MS = 30_000;
/** The late write on a disk that is full when it lands: run in a mount namespace with a tiny tmpfs. */
const FULL_DISK_FIXTURE = join(REPO, 'test/fixtures/trust-store/late-write-full-disk.ts');

/** What that fixture prints (or `{ skip }` where strace cannot hold its renames). */
interface FullDiskLateWrite {
  readonly skip?: string;
  readonly file: string;
  readonly boundText: string;
  readonly afterDeadline: { readonly renameHeld: boolean; readonly bindingFailure: string; readonly vouchesForX: boolean };
  readonly full: { readonly noticed: boolean; readonly failedLogged: boolean; readonly onDisk: string; readonly vouchesForX: boolean; readonly listing: readonly string[] };
  readonly freed: { readonly putBack: boolean; readonly onDisk: string; readonly vouchesForX: boolean; readonly attestedNames: readonly string[] };
  readonly leaked: readonly string[];
  readonly rereadNames: readonly string[];
  readonly log: readonly string[];
  readonly trace: string;
}

describe('trust store: a CA file write that lands after its deadline', () => {
  const fixture = useTestPki('trust-late-');

  /** A watched store in its own directory, with the test's file deadline; closed after the test. */
  const openStore = async (t: TestContext, name: string, log: CapturedLog): Promise<{ store: TrustStore; dir: string }> => {
    const dir = join(fixture.work(), name);
    const store = new TrustStore({ dir, log: log.log, fileTimeoutMs: FILE_TIMEOUT_MS });
    t.after(() => store.close(), { timeout: 10_000 });
    await store.reload();
    store.watch();
    return { store, dir };
  };

  /** Every change of the store in which it vouches for `name` (none is the goal), with the names it then held. */
  const bindingsOf = (store: TrustStore, name: string): string[] => {
    const seen: string[] = [];
    store.onChange(() => {
      if (store.vouchesFor(name)) seen.push(store.attestedNames().join(','));
    });
    return seen;
  };

  /**
   * Holds every rename of this process for `delayMs` (strace) until `release()`, which the test's
   * end does too, and fails every call of `fail` meanwhile; undefined, the test skipped with
   * strace's reason, where strace cannot.
   */
  const holdRenames = async (t: TestContext, delayMs: number, fail?: SyscallInjectionOptions['fail']): Promise<{ delay: SyscallInjection; release: () => Promise<void> } | undefined> => {
    const delay = await injectSyscalls({ pid: process.pid, hold: { syscalls: ['rename', 'renameat', 'renameat2'], delayMs }, dir: fixture.work(), fail });
    if ('skip' in delay) {
      t.skip(delay.skip);
      return undefined;
    }
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await delay.stop();
    };
    t.after(release, { timeout: 30_000 });
    return { delay, release };
  };

  /** Waits until strace holds a rename into `dir` (a CA file's write), and returns the file it renames to. */
  const heldRenameInto = async (delay: SyscallInjection, dir: string): Promise<string> => {
    const heldRename = () => delay.held().find((c) => c.syscall.startsWith('rename') && (c.strings.at(-1) ?? '').startsWith(`${dir}/`));
    assert.ok(await eventually(() => heldRename() !== undefined, DEADLINE_MS, 20), `the rename of the CA file is held\n${delay.trace()}`);
    const target = heldRename()?.strings.at(-1) ?? '';
    assert.match(target, /\/[0-9a-f]{64}\.pem$/, 'the binding writes <sha256>.pem');
    return target;
  };

  it('a binding overtaken by a revocation, whose rename lands after its deadline, never binds the revoked name: the file is removed again', async (t) => {
    const log = captureLog();
    const { store, dir } = await openStore(t, 'store', log);
    const bound = bindingsOf(store, 'bmc-b');

    const held = await holdRenames(t, RENAME_HOLD_MS);
    if (!held) return;
    const { delay } = held;
    const binding = store.addAttested(fixture.pki().b.ca.pem, 'bmc-b');
    binding.catch(() => undefined); // awaited below; its rejection comes while the test waits for the hold
    const target = await heldRenameInto(delay, dir);

    // The verdict comes while the binding's rename is held: the revocation overtakes it.
    const revoking = store.revokeName('bmc-b');
    await assert.rejects(binding, /timed out|revoked after this binding was asked for/);
    await revoking;
    assert.equal(store.vouchesFor('bmc-b'), false);
    assert.ok(!existsSync(target), 'nothing on disk yet: the rename is still held');

    // The disk comes back: strace lets the held rename go on, and it lands.
    await held.release();
    const undone = () => log.lines().some((l) => l.includes('CA_FILE_LATE_WRITE_UNDONE'));
    await eventually(() => undone() || bound.length > 0, DEADLINE_MS, 20);
    assert.deepEqual(bound, [], `bmc-b was never bound again, not even for a moment\n${log.lines().join('\n')}`);
    assert.ok(undone(), `the late file is noticed and put back\n${log.lines().join('\n')}`);
    assert.ok(!existsSync(target), `${target} is removed again`);
    assert.equal(store.vouchesFor('bmc-b'), false);

    // Another read of the directory (a daemon starting) agrees, and so does openssl -CApath.
    const reread = new TrustStore({ dir });
    await reread.reload();
    assert.deepEqual(reread.attestedNames(), []);
    const verify = await runTool('openssl', ['verify', '-no-CAfile', '-no-CAstore', '-CApath', dir, fixture.pki().b.client.certFile]);
    assert.notEqual(verify.code, 0, `openssl verify -CApath does not find bmc-b's CA: ${verify.stdout}`);
    // The directory watch saw the late file come and go: the store read it in neither time.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(bound, []);
  });
  it('a name added to a bound CA, whose rename lands after its deadline while the disk still hangs, is never bound: the put-back times out too, and is finished once the disk answers', async (t) => {
    const log = captureLog();
    const { store, dir } = await openStore(t, 'store-slow', log);
    const ca = fixture.pki().a.ca;
    const file = join(dir, `${(await store.addAttested(ca.pem, 'bmc-a')).fingerprint}.pem`);
    const boundText = readFileSync(file, 'utf8');
    const leaked = bindingsOf(store, 'bmc-x');

    // Every rename now takes longer than the store's deadline, then lands by itself.
    const held = await holdRenames(t, SLOW_RENAME_MS);
    if (!held) return;
    const { delay } = held;
    const timeouts = () => log.lines().filter((l) => l.includes('TRUST_FILE_TIMEOUT'));
    await assert.rejects(store.addAttested(ca.pem, 'bmc-x'), /timed out/);
    assert.equal(store.vouchesFor('bmc-x'), false, 'the binding failed: bmc-x is not bound');

    // Its rename lands (bmc-x on disk); the store's put-back (bmc-a alone) is held and times out too.
    const undone = () => log.lines().some((l) => l.includes('CA_FILE_LATE_WRITE_UNDONE'));
    assert.ok(await eventually(() => timeouts().length >= 2, DEADLINE_MS, 20), `the put-back times out while the disk hangs\n${log.lines().join('\n')}\n${delay.trace()}`);
    assert.ok(undone(), `the late file is named when it is noticed, before its put-back has finished\n${log.lines().join('\n')}`);
    assert.ok((timeouts()[1] ?? '').includes(`writing ${file}`), `the second timeout is the put-back of that file: ${timeouts()[1] ?? ''}`);
    assert.equal(store.vouchesFor('bmc-x'), false, 'the landed file is not read in');

    // The disk answers again: the held put-back goes on, and the file ends as memory holds it.
    await held.release();
    assert.ok(await eventually(() => readFileSync(file, 'utf8') === boundText, DEADLINE_MS, 20), `${file} holds bmc-a alone again\n${readFileSync(file, 'utf8')}`);
    // Whatever check is still due (the retry, the put-back's own settling) runs and leaves it so.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(readFileSync(file, 'utf8'), boundText);
    assert.deepEqual(leaked, [], `bmc-x was never bound, not even for a moment\n${log.lines().join('\n')}`);
    assert.deepEqual(store.attestedNames(), ['bmc-a']);
    const reread = new TrustStore({ dir });
    await reread.reload();
    assert.deepEqual(reread.attestedNames(), ['bmc-a'], 'a daemon starting now reads bmc-a alone');
  });
  it('a late file that cannot be put back (the disk is full by then) is named with the reason, once, stays out of every read, and is put back once there is room', async (t) => {
    if (process.getuid?.() !== 0) return t.skip(TINY_TMPFS_NEEDS);
    const dir = join(fixture.work(), 'store-full');
    const run = await runOnTinyTmpfs({ dir, fixture: FULL_DISK_FIXTURE, args: [fixture.work(), fixture.pki().a.ca.certFile], timeoutMs: 180_000 });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const seen = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as FullDiskLateWrite;
    if (seen.skip !== undefined) return t.skip(seen.skip);
    const out = `${seen.log.join('\n')}\n${seen.trace}`;

    assert.ok(seen.afterDeadline.renameHeld, `the rename of ${seen.file} is held\n${out}`);
    assert.match(seen.afterDeadline.bindingFailure, /timed out/, out);
    assert.equal(seen.afterDeadline.vouchesForX, false, 'the binding failed: bmc-x is not bound');

    // The rename landed on a full disk: the file names bmc-x, the store cannot rewrite it, and says so.
    assert.ok(seen.full.noticed, `the late file is noticed\n${out}`);
    assert.match(seen.full.onDisk, /^Attested-Name: bmc-x$/m, 'the late write is on disk');
    assert.ok(seen.full.failedLogged, `the failed put-back is logged\n${out}`);
    const failures = seen.log.filter((l) => l.includes('CA_FILE_PUT_BACK_FAILED'));
    assert.equal(failures.length, 1, `said once, however often it is tried meanwhile\n${out}`);
    assert.match(failures[0] ?? '', /^error trust store: cannot put \S+ back to what the store holds \(rewrite it\): .*ENOSPC.*a daemon started now would/, out);
    assert.ok((failures[0] ?? '').includes(seen.file), 'it names the file');
    assert.equal(seen.full.vouchesForX, false, 'the store does not read the late file in');
    assert.deepEqual(seen.full.listing.filter((f) => f.endsWith('.tmp') || f.includes('.tmp-')), [], 'no temp file of the failed put-back is left');

    // Room again: the file is put back, and said so.
    assert.ok(seen.freed.putBack, `the file is put back once there is room\n${out}`);
    assert.equal(seen.freed.onDisk, seen.boundText);
    assert.equal(seen.log.filter((l) => /CA_FILE_PUT_BACK(?!_FAILED)/.test(l)).length, 1, out);
    assert.deepEqual(seen.leaked, [], `bmc-x was never bound, not even for a moment\n${out}`);
    assert.deepEqual(seen.freed.attestedNames, ['bmc-a']);
    assert.deepEqual(seen.rereadNames, ['bmc-a'], 'a daemon starting now reads bmc-a alone');
  });
  it('a late file that cannot be removed again (the disk fails every removal) is named with the reason, once, stays out of every read, and is removed once the disk works', async (t) => {
    const log = captureLog();
    const { store, dir } = await openStore(t, 'store-failing', log);
    const bound = bindingsOf(store, 'bmc-b');

    // Every rename takes longer than the store's deadline, then lands by itself; every removal fails.
    const held = await holdRenames(t, SLOW_RENAME_MS, { syscalls: ['unlink', 'unlinkat'], errno: 'EIO' });
    if (!held) return;
    const { delay } = held;
    const binding = store.addAttested(fixture.pki().b.ca.pem, 'bmc-b');
    binding.catch(() => undefined); // awaited below
    const target = await heldRenameInto(delay, dir);
    const revoking = store.revokeName('bmc-b');
    await assert.rejects(binding, /timed out|revoked after this binding was asked for/);
    await revoking;

    // The rename lands: the file names bmc-b, and its removal fails.
    const lines = (event: RegExp) => log.lines().filter((l) => event.test(l));
    const failures = () => lines(/CA_FILE_PUT_BACK_FAILED/);
    const out = () => `${log.lines().join('\n')}\n${delay.trace()}`;
    assert.ok(await eventually(() => failures().length > 0, DEADLINE_MS, 20), `the failed removal is logged\n${out()}`);
    assert.ok(existsSync(target), `${target} landed and could not be removed`);
    assert.match(failures()[0] ?? '', /^error trust store: cannot put \S+ back to what the store holds \(remove it\): .*EIO.*a daemon started now would/, out());
    assert.ok((failures()[0] ?? '').includes(target), 'it names the file');
    assert.equal(lines(/CA_FILE_LATE_WRITE_UNDONE/).length, 1, out());
    assert.equal(store.vouchesFor('bmc-b'), false, 'the store does not read the late file in');
    // Tried again after 1 s and 2 s, still failing: said once.
    await new Promise((r) => setTimeout(r, 3500));
    assert.ok(existsSync(target));
    assert.equal(failures().length, 1, `said once, however often it is tried meanwhile\n${out()}`);
    assert.ok(/unlink\S*\(.*= -1 EIO .*\(INJECTED\)/.test(delay.trace()), `the removals were tried and failed\n${delay.trace()}`);

    // The disk works again: a later try removes the file, and says so.
    await held.release();
    assert.ok(await eventually(() => !existsSync(target) && lines(/CA_FILE_PUT_BACK(?!_FAILED)/).length > 0, DEADLINE_MS, 50), `the file is removed once the disk works\n${out()}`);
    await new Promise((r) => setTimeout(r, 2000));
    assert.ok(!existsSync(target));
    assert.equal(lines(/CA_FILE_PUT_BACK(?!_FAILED)/).length, 1, out());
    assert.equal(failures().length, 1, out());
    assert.deepEqual(bound, [], `bmc-b was never bound, not even for a moment\n${out()}`);
    const reread = new TrustStore({ dir });
    await reread.reload();
    assert.deepEqual(reread.attestedNames(), [], 'a daemon starting now binds no name');
  });
});
