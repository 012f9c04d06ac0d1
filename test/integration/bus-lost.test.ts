import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, getProperty, IFACE, OBJECT, SERVICE, type DaemonHandle } from '../harness/daemon.ts';
import type { PrivateBus } from '../harness/private-bus.ts';
import { floodCalls } from '../harness/call-flood.ts';

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

  /**
   * How many times the bus is killed while provisioningd sends: the connection's write fails at a
   * random point of a burst, and every round must end the documented way.
   */
  const ROUNDS = 5;

  it('the dbus-daemon is killed while provisioningd publishes a stream of changes: exit 69 with BUS_LOST, never a crash', async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const bus = await fixture.newBus();
      // Failed peers are forgotten at once, so that the flood adds, changes and removes their objects without end.
      const d = await fixture.startDaemon({ bus, config: { failed_peer_lifetime: 0.1, max_requested_peers: 4096 } });
      const self = await busctl(bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
      assert.equal(self.code, 0, self.stderr);
      const calls = Array.from({ length: 32 }, (_, i) => ({ destination: SERVICE, path: OBJECT, interface: IFACE, member: 'ProvisionPeer', signature: 's', body: [`peer-${i}`] }));
      const flood = floodCalls({ bus, calls, signalsUnder: OBJECT });
      fixture.cleanup(() => flood.stop());
      try {
        assert.ok(await flood.waitForSignals(200, EXIT_DEADLINE_MS), `round ${round}: provisioningd publishes: ${flood.signals()} signals seen\n${d.output()}`);
        const exit = await killBus(bus, d);
        const what = `round ${round} (${flood.answered()} calls answered, ${flood.signals()} signals):\n${d.output()}`;
        assert.deepEqual(exit, { code: EX_UNAVAILABLE, signal: null }, what);
        assert.match(d.output(), /error.*lost the system bus: .*code=BUS_LOST/, what);
        assert.doesNotMatch(d.output(), /^\s+at /m, `no stack trace: ${what}`);
      } finally {
        flood.stop();
      }
    }
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

describe('starting without a usable system bus', () => {
  const fixture = useBusFixture();

  /** Starts provisioningd on `address` instead of the private bus and returns how it ended. */
  const startOn = async (address: string) => {
    const d = await fixture.startDaemon({ env: { DBUS_SYSTEM_BUS_ADDRESS: address }, waitForName: false });
    const exit = await d.exited(EXIT_DEADLINE_MS);
    return { exit, output: d.output() };
  };

  it('no socket at the address: exit 69 at once with the connection error, naming the address', async () => {
    const address = `unix:path=${join(fixture.tempDir('nobus-'), 'system_bus_socket')}`;
    const { exit, output } = await startOn(address);
    assert.deepEqual(exit, { code: EX_UNAVAILABLE, signal: null }, output);
    assert.ok(output.includes(`provisioningd: cannot start: cannot connect to the system bus at ${address}: connect ENOENT`), output);
    assert.doesNotMatch(output, /timed out/, output);
  });

  it('a file that is no socket at the address: exit 69 with ECONNREFUSED, naming the address', async () => {
    const file = join(fixture.tempDir('nobus-'), 'system_bus_socket');
    writeFileSync(file, '');
    const address = `unix:path=${file}`;
    const { exit, output } = await startOn(address);
    assert.deepEqual(exit, { code: EX_UNAVAILABLE, signal: null }, output);
    assert.ok(output.includes(`provisioningd: cannot start: cannot connect to the system bus at ${address}: connect ECONNREFUSED`), output);
  });

  it('not a D-Bus address: exit 69 saying so', async () => {
    const { exit, output } = await startOn('/run/dbus/system_bus_socket');
    assert.deepEqual(exit, { code: EX_UNAVAILABLE, signal: null }, output);
    assert.match(output, /provisioningd: cannot start: cannot connect to the system bus at \/run\/dbus\/system_bus_socket: not a D-Bus address/);
  });

  it('a socket that accepts and never answers: exit 69 once RequestName ran out of time', async () => {
    const file = join(fixture.tempDir('mutebus-'), 'system_bus_socket');
    const held = new Set<Socket>();
    const server = createServer((s) => void held.add(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, resolve);
    });
    fixture.cleanup(
      () =>
        new Promise<void>((resolve) => {
          for (const s of held) s.destroy();
          server.close(() => resolve());
        }),
    );
    const { exit, output } = await startOn(`unix:path=${file}`);
    assert.deepEqual(exit, { code: EX_UNAVAILABLE, signal: null }, output);
    assert.match(output, /provisioningd: cannot start: RequestName xyz\.openbmc_project\.Provisioning timed out after 10000 ms/);
  });
});
