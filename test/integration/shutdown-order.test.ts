/**
 * The bus name is the lock on state_dir and the token (docs/architecture.md, "The way out"): on
 * SIGTERM, provisioningd's last state write lands and its token is closed before the name is
 * released, so that an instance which gets the name next finds the state file as this one left it
 * and the token free. What an instance that gets the name next would see is read in the handler of
 * the bus daemon's NameOwnerChanged signal for the release.
 *
 * - The token close in flight: a tpm2-pkcs11 token on swtpm, the TPM paused (SIGSTOP) before the
 *   SIGTERM: closing the token then waits in the TPM, and while it waits the name is still owned;
 *   once the TPM answers, the name is released, and at that moment the state file holds the final
 *   state.
 * - A state write in flight: strace, attached to the daemon, holds its renames at their entry
 *   (delay injection) and ProvisionPeer("self") writes provisioned = true; the SIGTERM comes while
 *   the rename of state.json's temp file is held. While it is held the name is still owned and
 *   state.json is not yet the new state; once the rename has gone through, the name is released,
 *   and at that moment state.json holds it. Skipped, saying why, where strace cannot attach or inject.
 * - The last step of that write in flight: strace holds only the fsync of state_dir itself (the one
 *   that makes the rename survive a power cut); the SIGTERM comes while it is held, state.json
 *   already renamed into place. While it is held the name is still owned; once it has returned,
 *   the name is released.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import dbus from 'dbus-next';
import { addMatch, signalRule } from '../../src/dbus/bus-call.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, IFACE, OBJECT, onBus, SERVICE } from '../harness/daemon.ts';
import { startSoftTpmToken } from '../harness/soft-tpm.ts';
import { holdsUnreadBytes } from '../harness/socket-queues.ts';
import { injectSyscalls, type SyscallInjectionOptions } from '../harness/syscall-inject.ts';

const DEADLINE_MS = 60_000;

/**
 * How long strace holds each rename of the daemon. Below the daemon's deadline for a state write
 * (ATOMIC_WRITE_TIMEOUT_MS, 10 s from the write's start: a write that ran out of time no longer
 * holds the way out) and its hard stop (10 s from the SIGTERM, src/service-main.ts), with room for
 * the rest of either on a loaded machine; long enough for the checks made while it is held. The
 * renames of the issuance before the state write (CA key, CA and leaf certificates) are held as
 * long: each within its own 10 s write deadline, and all within ProvisionPeer("self")'s deadline
 * (2 × token_timeout + 5 s). strace 6.1's -P matches only rename's first path (the temp file, of a
 * random name), so it cannot single out the state file's.
 */
const RENAME_HOLD_MS = 4000;
/** How long strace holds each fsync of state_dir itself, for the same reasons as RENAME_HOLD_MS. */
const DIR_FSYNC_HOLD_MS = 4000;
/** How long, with the rename held and the SIGTERM taken, a release is given to come too early: a way out that does not wait for the write releases the name some 10 ms after the SIGTERM. */
const EARLY_RELEASE_WINDOW_MS = 1000;

/** What the state file held when the bus daemon said the name was released, read in the signal's handler. */
interface Release {
  readonly stateJson: string | undefined;
}

/** The state file's text, or undefined while there is none. */
function readState(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

describe('the way out: the name is released last', () => {
  const fixture = useBusFixture();

  /** Records what the state file holds at each release of the name, from a watcher connection of the test's own. */
  async function watchReleases(stateFile: string): Promise<Release[]> {
    const watcher = dbus.sessionBus({ busAddress: fixture.bus().address });
    fixture.cleanup(() => watcher.disconnect());
    const releases: Release[] = [];
    watcher.on('message', (msg: dbus.Message) => {
      if (msg.type !== dbus.MessageType.SIGNAL || msg.member !== 'NameOwnerChanged') return;
      const [name, , newOwner] = msg.body as [string, string, string];
      if (name === SERVICE && newOwner === '') releases.push({ stateJson: readState(stateFile) });
    });
    await addMatch(watcher, signalRule({ sender: 'org.freedesktop.DBus', member: 'NameOwnerChanged', arg0: SERVICE }), 10_000);
    return releases;
  }

  it('on SIGTERM the state file is final and the token closed before the name is released', async () => {
    const tpm = await startSoftTpmToken();
    fixture.finally(() => tpm.stop());
    fixture.cleanup(() => tpm.resumeTpm());
    // token_timeout well past the test: closing the token waits for the paused TPM, not for a deadline.
    const daemon = await fixture.startDaemon({ env: tpm.env, config: { name: 'bmc-out', token: tpm.token, token_timeout: 60 } });
    const stateFile = join(String(daemon.config['state_dir']), 'state.json');
    const provision = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(provision.code, 0, `${provision.stderr}\n${daemon.output()}`);
    const finalState = readFileSync(stateFile, 'utf8');
    assert.equal((JSON.parse(finalState) as { provisioned: boolean }).provisioned, true, finalState);

    // A next instance's view: the moment the bus daemon hands the name on, what is in the state file.
    const releases = await watchReleases(stateFile);

    const swtpm = tpm.pids().swtpm;
    assert.ok(swtpm, 'swtpm runs');
    tpm.pauseTpm();
    daemon.kill('SIGTERM');
    // Closing the token is under way: the TPM holds a command it cannot read while it is paused.
    assert.ok(await eventually(() => holdsUnreadBytes({ listenerPid: swtpm }), DEADLINE_MS, 50), `the daemon closes its token\n${daemon.output()}`);
    const owner = await busctl(fixture.bus(), 'status', SERVICE);
    assert.equal(owner.code, 0, `the name is still owned while the token is being closed: ${owner.stderr}\n${daemon.output()}`);
    assert.deepEqual(releases, [], 'no release was signalled yet');
    assert.equal(readFileSync(stateFile, 'utf8'), finalState, 'the state file is final before the name goes');

    tpm.resumeTpm();
    const exit = await daemon.exited();
    assert.deepEqual(exit, { code: 0, signal: null }, daemon.output());
    assert.ok(await eventually(() => releases.length > 0, DEADLINE_MS), `the release was signalled\n${daemon.output()}`);
    assert.deepEqual(releases, [{ stateJson: finalState }], 'when the name was released, the state file held the final state');
  });

  /** A daemon on the fixture's bus with strace holding `delay`'s calls, a watch of the name's releases, and ProvisionPeer("self") under way; undefined (the test skipped, saying why) where strace cannot hold them. */
  async function selfProvisioningHeld(t: TestContext, name: string, delay: (stateDir: string) => Omit<SyscallInjectionOptions, 'pid' | 'dir'>) {
    const daemon = await fixture.startDaemon({ config: { name } });
    const stateDir = String(daemon.config['state_dir']);
    const stateFile = join(stateDir, 'state.json');
    assert.equal(readState(stateFile), undefined, 'a fresh BMC has no state file yet');
    const held = await injectSyscalls({ ...delay(stateDir), pid: daemon.pid, dir: fixture.tempDir('strace-') });
    if ('skip' in held) {
      t.skip(held.skip);
      return undefined;
    }
    // If the test fails half-way, strace detaches before the daemon is stopped: it is never left traced.
    fixture.cleanup(() => held.stop());
    const releases = await watchReleases(stateFile);
    // The reply waits for the state write: it is read at the end, whatever it says.
    const provision = onBus(fixture.bus(), 'busctl', ['--timeout=120', 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self'], { timeoutMs: 120_000 });
    // Awaited below; a test that fails before that must not also leave an unhandled rejection.
    provision.catch(() => undefined);
    return { daemon, stateDir, stateFile, held, releases, provision };
  }
  type HeldSelfProvisioning = NonNullable<Awaited<ReturnType<typeof selfProvisioningHeld>>>;

  /** SIGTERM while `what` is held: the way out gets its chance to release the name too early, and must not. */
  async function sigtermKeepsTheName(h: HeldSelfProvisioning, what: string): Promise<void> {
    h.daemon.kill('SIGTERM');
    assert.ok(await h.daemon.waitForOutput(/stopping: SIGTERM/), `the daemon takes the SIGTERM\n${h.daemon.output()}`);
    await eventually(() => h.releases.length > 0, EARLY_RELEASE_WINDOW_MS);
    assert.deepEqual(h.releases, [], `no release is signalled while ${what} is in flight\n${h.daemon.output()}`);
    const owner = await busctl(fixture.bus(), 'status', SERVICE);
    assert.equal(owner.code, 0, `the name is still owned while ${what} is in flight: ${owner.stderr}\n${h.daemon.output()}`);
  }

  /** Once strace lets the call go on: a clean exit, and at the release state.json held `state`. */
  async function releasedWith(t: TestContext, h: HeldSelfProvisioning, state: string | undefined): Promise<void> {
    const exit = await h.daemon.exited();
    assert.deepEqual(exit, { code: 0, signal: null }, h.daemon.output());
    assert.ok(await eventually(() => h.releases.length > 0, DEADLINE_MS), `the release was signalled\n${h.daemon.output()}`);
    assert.deepEqual(h.releases, [{ stateJson: state }], 'when the name was released, state.json held the new state');
    await h.held.stop();
    const reply = await h.provision;
    t.diagnostic(`ProvisionPeer("self") during the way out: exit ${reply.code} ${reply.stderr.trim()}`);
  }

  it('on SIGTERM during a state write, the name is released only once the write has landed', async (t) => {
    const h = await selfProvisioningHeld(t, 'bmc-write', () => ({ hold: { syscalls: ['rename', 'renameat', 'renameat2'], delayMs: RENAME_HOLD_MS } }));
    if (!h) return;
    const stateRename = () => h.held.held().find((c) => c.syscall.startsWith('rename') && c.strings.at(-1) === h.stateFile);
    // The issuance's renames are held first, each for RENAME_HOLD_MS; then the state file's.
    assert.ok(await eventually(() => stateRename() !== undefined, DEADLINE_MS, 20), `the rename into ${h.stateFile} is held\n${h.held.trace()}\n${h.daemon.output()}`);
    const rename = stateRename();
    const tempFile = rename?.strings[0];
    assert.ok(tempFile, `the held rename names its temp file: ${JSON.stringify(rename)}`);
    const newState = readFileSync(tempFile, 'utf8');
    assert.equal((JSON.parse(newState) as { provisioned: boolean }).provisioned, true, newState);

    await sigtermKeepsTheName(h, 'the state write');
    // Read last: the name was owned, and no release signalled, while state.json was still not written.
    assert.equal(
      readState(h.stateFile),
      undefined,
      `state.json is not written yet (if the rename is no longer held, ${RENAME_HOLD_MS} ms was too short for these checks here)\n${h.held.trace()}`,
    );
    await releasedWith(t, h, newState);
  });

  it("on SIGTERM while the state directory's fsync after the rename is held, the name is released only once it has returned", async (t) => {
    const h = await selfProvisioningHeld(t, 'bmc-dirsync', (stateDir) => ({ hold: { syscalls: ['fsync'], delayMs: DIR_FSYNC_HOLD_MS }, paths: [stateDir] }));
    if (!h) return;
    const dirSyncHeld = () => h.held.held().some((c) => c.syscall === 'fsync' && c.fdPaths[0] === h.stateDir);
    const provisioned = () => {
      const text = readState(h.stateFile);
      return text !== undefined && (JSON.parse(text) as { provisioned: boolean }).provisioned;
    };
    // The fsync of state_dir that follows state.json's rename: held, with state.json in place.
    assert.ok(await eventually(() => provisioned() && dirSyncHeld(), DEADLINE_MS, 20), `the fsync of ${h.stateDir} after the rename is held\n${h.held.trace()}\n${h.daemon.output()}`);
    const newState = readState(h.stateFile);

    await sigtermKeepsTheName(h, "the directory's fsync");
    // Read last: still held, so the checks above were made while it was in flight.
    assert.ok(dirSyncHeld(), `the fsync of ${h.stateDir} is still held (if not, ${DIR_FSYNC_HOLD_MS} ms was too short for these checks here)\n${h.held.trace()}`);
    await releasedWith(t, h, newState);
    // Only fsyncs of state_dir are traced (-P): each held one returned 0.
    assert.match(h.held.trace(), /\) += 0 \(DELAYED\)/, 'the held fsync of state_dir returned 0');
    assert.doesNotMatch(h.held.trace(), /= -1 /, 'no fsync of state_dir failed');
  });
});
