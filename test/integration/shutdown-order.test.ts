/**
 * The bus name is the lock on state_dir and the token (docs/architecture.md, "The way out"): on
 * SIGTERM, provisioningd's last state write lands and its token is closed before the name is
 * released, so that an instance which gets the name next finds the state file as this one left it
 * and the token free. A tpm2-pkcs11 token on swtpm, the TPM paused (SIGSTOP) before the SIGTERM:
 * closing the token then waits in the TPM, and while it waits the name is still owned; once the
 * TPM answers, the name is released, and at that moment the state file holds the final state.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import dbus from 'dbus-next';
import { addMatch, signalRule } from '../../src/dbus/bus-call.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, IFACE, OBJECT, SERVICE } from '../harness/daemon.ts';
import { startSoftTpmToken } from '../harness/soft-tpm.ts';
import { holdsUnreadBytes } from '../harness/socket-queues.ts';

const DEADLINE_MS = 60_000;

/** What the state file held when the bus daemon said the name was released, read in the signal's handler. */
interface Release {
  readonly stateJson: string;
}

describe('the way out: the name is released last', () => {
  const fixture = useBusFixture();

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
    const watcher = dbus.sessionBus({ busAddress: fixture.bus().address });
    fixture.cleanup(() => watcher.disconnect());
    const releases: Release[] = [];
    watcher.on('message', (msg: dbus.Message) => {
      if (msg.type !== dbus.MessageType.SIGNAL || msg.member !== 'NameOwnerChanged') return;
      const [name, , newOwner] = msg.body as [string, string, string];
      if (name === SERVICE && newOwner === '') releases.push({ stateJson: readFileSync(stateFile, 'utf8') });
    });
    await addMatch(watcher, signalRule({ sender: 'org.freedesktop.DBus', member: 'NameOwnerChanged', arg0: SERVICE }), 10_000);

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
});
