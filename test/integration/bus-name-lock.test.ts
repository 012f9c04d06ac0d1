/**
 * The bus name is the daemon's lock: a second provisioningd on a bus where the name is owned
 * exits 69 saying so, and touches nothing first (no certificate, no state file, no listening
 * port); the first one keeps serving.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { acceptsConnections, busctl, freePort, IFACE, OBJECT, SERVICE } from '../harness/daemon.ts';

const EX_UNAVAILABLE = 69;

describe('the bus name is the lock', () => {
  const fixture = useBusFixture();

  it('a second instance exits 69 without touching the token, the state file or the network; the first keeps serving', async () => {
    const first = await fixture.startDaemon({ config: { name: 'bmc-first' } });
    // The second believes it is provisioned: past the lock it would restore its credentials through
    // the token (writing under cert_root) and listen on its port.
    const dir = fixture.tempDir('pd-second-');
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { recursive: true });
    const stateText = `${JSON.stringify({ version: 2, provisioned: true })}\n`;
    writeFileSync(join(stateDir, 'state.json'), stateText);
    const port = await freePort();
    const second = await fixture.startDaemon({ dir, waitForName: false, config: { name: 'bmc-second', port, state_dir: stateDir } });

    const exit = await second.exited();
    assert.deepEqual(exit, { code: EX_UNAVAILABLE, signal: null }, second.output());
    assert.match(second.output(), /cannot start: cannot own xyz\.openbmc_project\.Provisioning: another process owns it/);
    assert.doesNotMatch(second.output(), /Restoring|Provisioned/, 'it never left Boot for its credentials');
    const certRoot = join(dir, 'root');
    assert.deepEqual(existsSync(certRoot) ? readdirSync(certRoot, { recursive: true }) : [], [], 'nothing written under cert_root');
    assert.equal(readFileSync(join(stateDir, 'state.json'), 'utf8'), stateText, 'the state file is as it was');
    assert.equal(await acceptsConnections(port), false, 'it never listened');

    const call = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, `the first instance still serves: ${call.stderr}\n${first.output()}`);
  });
});
