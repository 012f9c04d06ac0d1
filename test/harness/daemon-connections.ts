import { after, before } from 'node:test';
import { connectSystemBus, type BusConnection } from '../../src/dbus/system-bus.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { startPrivateBus, type PrivateBus } from './private-bus.ts';

/** How long a test connection's Hello may take: hang protection, not a measurement. */
const HELLO_DEADLINE_MS = 30_000;

/** A bus connection made as the daemon makes it, with the unique name its Hello gave it. */
export type DaemonConnection = BusConnection & { readonly name: string };

/**
 * Call inside a `describe`: a session-type private bus (its open policy: these tests are about what
 * happens on one connection, not about the shipped policy) started in `before`, and connect(), a
 * connection as the daemon makes it (connectSystemBus) once its unique name is known; every
 * connection is closed and the bus stopped in `after`.
 */
export function useDaemonConnections(): { connect(): Promise<DaemonConnection> } {
  let bus: PrivateBus | undefined;
  const conns: BusConnection[] = [];
  before(async () => {
    bus = await startPrivateBus({ kind: 'session' });
  }, { timeout: 120_000 });
  after(async () => {
    for (const c of conns) c.close();
    await bus?.stop();
  }, { timeout: 60_000 });

  return {
    async connect() {
      if (!bus) throw new Error('the private bus was not started (before() did not run)');
      process.env['DBUS_SYSTEM_BUS_ADDRESS'] = bus.address;
      const conn = connectSystemBus();
      conns.push(conn);
      await withTimeout(new Promise((resolve) => conn.bus.once('connect', resolve)), HELLO_DEADLINE_MS, 'the Hello of a test connection');
      // dbus-next sets `name` from the Hello reply; its typings leave it out.
      const { name } = conn.bus as unknown as { readonly name?: string };
      if (!name) throw new Error('no unique name after Hello');
      return Object.assign(conn, { name });
    },
  };
}
