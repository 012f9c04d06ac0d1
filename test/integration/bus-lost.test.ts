import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, getProperty, IFACE, OBJECT, SERVICE, type DaemonHandle } from '../harness/daemon.ts';
import type { PrivateBus } from '../harness/private-bus.ts';

const EX_UNAVAILABLE = 69;
/**
 * Hang protection only: the daemon gives its clean shutdown 10 s before it exits anyway (with the
 * same status), so waiting exactly that long raced the daemon's own deadline on a loaded machine.
 */
const EXIT_DEADLINE_MS = 30_000;

describe('losing the system bus', () => {
  const fixture = useBusFixture();

  /** SIGKILLs the bus daemon by its PID and returns how the provisioning daemon ended. */
  const killBus = async (bus: PrivateBus, d: DaemonHandle) => {
    process.kill(bus.pid, 'SIGKILL');
    return withTimeout(d.exited(), EXIT_DEADLINE_MS, 'the daemon noticing the lost bus').catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; its output so far:\n${d.output()}`);
    });
  };

  it('the dbus-daemon is killed: provisioningd exits 69 and says why', async () => {
    const bus = fixture.bus();
    const d = await fixture.startDaemon({ bus });
    const exit = await killBus(bus, d);
    assert.deepEqual(exit, { code: EX_UNAVAILABLE, signal: null }, d.output());
    assert.match(d.output(), /error.*lost the system bus/);
  });

  it('after a lost bus, the restarted daemon (as systemd would) is still provisioned', async () => {
    const bus = await fixture.newBus();
    const d = await fixture.startDaemon({ bus });
    const call = await busctl(bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, call.stderr);
    assert.equal((await killBus(bus, d)).code, EX_UNAVAILABLE, d.output());

    const next = await fixture.newBus();
    await fixture.startDaemon({ bus: next, dir: d.dir });
    assert.equal(await getProperty(next, 'provisioned'), 'true');
  });
});
