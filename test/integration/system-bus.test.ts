/**
 * The system bus connection (src/dbus/system-bus.ts) against a real dbus-daemon, at the moment it
 * goes away: what the daemon sends then (PropertiesChanged, a signal) never throws, `lost` says why,
 * and a call, or one waiting for its reply, fails at once with that reason instead of its deadline.
 * A connection that cannot be made at all is lost with the error, naming the address.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import dbus from 'dbus-next';
import { connectSystemBus, type BusConnection } from '../../src/dbus/system-bus.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { startPrivateBus, type PrivateBus } from '../harness/private-bus.ts';
import { waitForExit } from '../harness/stop-process.ts';
import { runTeardown } from '../harness/teardown-steps.ts';

/** Hang protection only: everything here settles by itself once the bus is gone. */
const SETTLE_DEADLINE_MS = 30_000;

class Probe extends dbus.interface.Interface {
  value = 0;
  get Value(): number {
    return this.value ?? 0;
  }
  Tick(n: number): number {
    return n;
  }
}
Probe.configureMembers({
  properties: { Value: { signature: 'u', access: dbus.interface.ACCESS_READ } },
  signals: { Tick: { signature: 'u' } },
});

/** How long killDeadSync() may wait for the kernel to end a SIGKILLed process: a net, not a measurement. */
const KILL_DEADLINE_MS = 10_000;

/**
 * SIGKILLs a process and waits, without giving the event loop a turn, until the kernel has ended it
 * (a zombie: its sockets are closed). Code that runs next, in the same turn, sends into a closed
 * connection whose end this process has not read yet: the moment of the race, held still.
 */
function killDeadSync(pid: number): void {
  process.kill(pid, 'SIGKILL');
  const end = Date.now() + KILL_DEADLINE_MS;
  for (;;) {
    let state: string | undefined;
    try {
      state = /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    } catch {
      return; // reaped already
    }
    if (state === 'Z' || state === 'X') return;
    if (Date.now() > end) throw new Error(`dbus-daemon (pid ${pid}) still ${state ?? '?'} ${KILL_DEADLINE_MS} ms after SIGKILL`);
  }
}

/** A GetId call to the bus daemon, whose reply takes one round trip. */
const getId = () => new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetId' });

describe('the system bus connection when the bus daemon goes', () => {
  const buses: PrivateBus[] = [];
  const conns: BusConnection[] = [];
  after(async () => {
    await runTeardown([...conns.map((c) => ['closing a connection', () => c.close()] as const), ...buses.map((b) => [`stopping ${b.program} pid ${b.pid}`, () => b.stop()] as const)]);
  }, { timeout: 120_000 });

  /** Connects as the daemons do (connectSystemBus) to `address`. */
  const connectTo = (address: string) => {
    process.env['DBUS_SYSTEM_BUS_ADDRESS'] = address;
    const conn = connectSystemBus();
    conns.push(conn);
    return conn;
  };

  it('killed while we send: no send throws, lost says why, calls fail at once with it', async () => {
    const bus = await startPrivateBus({ kind: 'session' });
    buses.push(bus);
    const conn = connectTo(bus.address);
    assert.ok(await withTimeout(conn.bus.call(getId()), SETTLE_DEADLINE_MS, 'GetId'), 'connected');
    const probe = new Probe('org.example.Probe');
    conn.bus.export('/org/example/Probe', probe);

    // A call waits for its reply; the bus daemon dies; in the same turn the daemon publishes. The
    // first write fails and destroys the socket; dbus-next threw on every send after it.
    const waiting = conn.bus.call(getId()).then(
      () => 'answered',
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    killDeadSync(bus.pid);
    for (let n = 1; n <= 100; n++) {
      probe.value = n;
      assert.doesNotThrow(() => dbus.interface.Interface.emitPropertiesChanged(probe, { Value: n }, []), `PropertiesChanged ${n}`);
      assert.doesNotThrow(() => probe.Tick(n), `signal ${n}`);
    }
    await waitForExit(bus.process, { timeoutMs: SETTLE_DEADLINE_MS, after: 'SIGKILL' });
    const why = await withTimeout(conn.lost, SETTLE_DEADLINE_MS, 'lost');
    assert.match(why, /EPIPE|ECONNRESET|closed/);
    assert.ok(conn.isLost());
    assert.equal(await withTimeout(waiting, SETTLE_DEADLINE_MS, 'the waiting call'), why, 'the waiting call fails with the reason');
    await assert.rejects(withTimeout(conn.bus.call(getId()), SETTLE_DEADLINE_MS, 'a new call'), (err: Error) => err.message === why);
  });

  it('no socket at the address: lost names the address and the error, and a call fails with it', async () => {
    const address = `unix:path=${join('/nonexistent-dir', 'system_bus_socket')}`;
    const conn = connectTo(address);
    const why = await withTimeout(conn.lost, SETTLE_DEADLINE_MS, 'lost');
    assert.match(why, /^cannot connect to the system bus at unix:path=\/nonexistent-dir\/system_bus_socket: connect ENOENT/);
    await assert.rejects(
      withTimeout(conn.bus.requestName('org.example.Probe', 0), SETTLE_DEADLINE_MS, 'RequestName'),
      (err: Error) => err.message === why,
    );
  });

  it('not a D-Bus address: connecting throws, naming it', () => {
    assert.throws(() => connectTo('/run/dbus/system_bus_socket'), /^Error: cannot connect to the system bus at \/run\/dbus\/system_bus_socket: not a D-Bus address/);
  });
});
