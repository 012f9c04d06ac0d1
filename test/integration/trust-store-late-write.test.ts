/**
 * The trust store when a CA file's write times out in the middle of its rename (a disk that hangs
 * there): the rename still lands afterwards. A binding overtaken by a revocation must not bind the
 * revoked name when it does; the store takes the late file in as memory has it (here: no file) and
 * puts the disk back. The hang is real: strace, attached to this test's own process, holds every
 * rename at its entry for longer than the store's deadline, then lets it go.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TrustStore } from '../../src/pki/trust/index.ts';
import { captureLog } from '../harness/capture-log.ts';
import { eventually } from '../harness/daemon.ts';
import { runTool } from '../harness/run-tool.ts';
import { delaySyscalls } from '../harness/syscall-delay.ts';
import { useTestPki } from '../harness/test-pki.ts';

/**
 * The store's deadline for one file call: far below the rename's hold, and far above what the write's
 * other steps take on a loaded machine while strace stops this process at each of its system calls.
 */
const FILE_TIMEOUT_MS = 3000;
/** How long strace holds each rename: the test lets it go long before (by stopping strace). */
const RENAME_HOLD_MS = 60_000;
/** A net for each wait (strace attaching, a call reaching its hold, the store's check). */
const DEADLINE_MS = 30_000;

describe('trust store: a CA file write that lands after its deadline', () => {
  const fixture = useTestPki('trust-late-');

  it('a binding overtaken by a revocation, whose rename lands after its deadline, never binds the revoked name: the file is removed again', async (t) => {
    const log = captureLog();
    const dir = join(fixture.work(), 'store');
    const store = new TrustStore({ dir, log: log.log, fileTimeoutMs: FILE_TIMEOUT_MS });
    t.after(() => store.close(), { timeout: 10_000 });
    await store.reload();
    store.watch();
    const bound: string[] = [];
    store.onChange(() => {
      if (store.vouchesFor('bmc-b')) bound.push(store.attestedNames().join(','));
    });

    const delay = await delaySyscalls({ pid: process.pid, syscalls: ['rename', 'renameat', 'renameat2'], delayMs: RENAME_HOLD_MS, dir: fixture.work() });
    if ('skip' in delay) {
      t.skip(delay.skip);
      return;
    }
    let released = false;
    t.after(
      async () => {
        if (!released) await delay.stop();
      },
      { timeout: 30_000 },
    );
    const binding = store.addAttested(fixture.pki().b.ca.pem, 'bmc-b');
    binding.catch(() => undefined); // awaited below; its rejection comes while the test waits for the hold
    const heldRename = () => delay.held().find((c) => c.syscall.startsWith('rename') && (c.strings.at(-1) ?? '').startsWith(`${dir}/`));
    assert.ok(await eventually(() => heldRename() !== undefined, DEADLINE_MS, 20), `the rename of the CA file is held\n${delay.trace()}`);
    const target = heldRename()?.strings.at(-1) ?? '';
    assert.match(target, /\/[0-9a-f]{64}\.pem$/, 'the binding writes <sha256>.pem');

    // The verdict comes while the binding's rename is held: the revocation overtakes it.
    const revoking = store.revokeName('bmc-b');
    await assert.rejects(binding, /timed out|revoked after this binding was asked for/);
    await revoking;
    assert.equal(store.vouchesFor('bmc-b'), false);
    assert.ok(!existsSync(target), 'nothing on disk yet: the rename is still held');

    // The disk comes back: strace lets the held rename go on, and it lands.
    await delay.stop();
    released = true;
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
});
