import type { EventEmitter } from 'node:events';
import dbus from 'dbus-next';
import { errorMessage } from '../util/error-message.ts';

/** The bus connection plus a promise that settles when it is lost, so the daemon can exit non-zero. */
export interface BusConnection {
  readonly bus: dbus.MessageBus;
  /** Resolves with a reason when the connection to the bus daemon ends or fails. */
  readonly lost: Promise<string>;
  /** True once `lost` has settled: no call on the bus can be answered any more. */
  isLost(): boolean;
  close(): void;
}

/** Where dbus-next connects when DBUS_SYSTEM_BUS_ADDRESS is unset or empty. */
const DEFAULT_SYSTEM_BUS_ADDRESS = 'unix:path=/var/run/dbus/system_bus_socket';

/** The system bus address dbus-next connects to, for the messages that name it. */
export const systemBusAddress = (): string => process.env['DBUS_SYSTEM_BUS_ADDRESS'] || DEFAULT_SYSTEM_BUS_ADDRESS;

/** The parts of dbus-next's connection object this module watches (not in its types). */
interface RawConnection extends EventEmitter {
  readonly stream?: EventEmitter & { readonly writable: boolean };
}

/**
 * Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured by dbus-next). dbus-next emits
 * no error when the bus daemon dies and would let the process exit 0, so the stream's end is
 * watched here and turned into `lost`. Once the connection is gone nothing on it throws or waits:
 * a send (a reply, a signal, PropertiesChanged) is dropped, and a call, or one still waiting for
 * its reply, fails at once with the reason. A connection that cannot be made at all (no socket,
 * refused) is lost with `cannot connect to the system bus at <address>: <why>`.
 */
export function connectSystemBus(): BusConnection {
  const address = systemBusAddress();
  // dbus-next reads a value without a `transport:` prefix as undefined and fails with a TypeError.
  if (!/^[A-Za-z-]+:/.test(address)) {
    throw new Error(`cannot connect to the system bus at ${address}: not a D-Bus address (such as unix:path=/run/dbus/system_bus_socket)`);
  }
  let bus: dbus.MessageBus;
  try {
    bus = dbus.systemBus();
  } catch (err) {
    // An address dbus-next cannot parse, or of a kind it does not know.
    throw new Error(`cannot connect to the system bus at ${address}: ${errorMessage(err)}`);
  }
  const connection = (bus as unknown as { _connection?: RawConnection })._connection;
  let closing = false;
  let connected = false;
  let lostReason: string | undefined;
  // Calls waiting for their reply: failed at once when the connection goes.
  const waiting = new Set<(err: Error) => void>();
  let resolveLost: (reason: string) => void = () => undefined;
  const lost = new Promise<string>((resolve) => {
    resolveLost = resolve;
  });
  // Settled at once, not a microtask later: a send or call right after it already sees the loss.
  const markLost = (reason: string) => {
    if (closing || lostReason !== undefined) return;
    lostReason = reason;
    for (const fail of waiting) fail(new Error(reason));
    waiting.clear();
    resolveLost(reason);
  };
  const notConnected = (why: string) => `cannot connect to the system bus at ${address}: ${why}`;

  // dbus-next forwards the connection's errors to the bus: this one comes first.
  bus.on('error', (err: unknown) => markLost(connected ? `bus error: ${errorMessage(err)}` : notConnected(errorMessage(err))));
  connection?.once('connect', () => {
    connected = true;
  });
  connection?.on('end', () => markLost(connected ? 'bus connection closed by the bus daemon' : notConnected('the bus daemon closed the connection')));
  connection?.on('error', (err: unknown) => markLost(connected ? `bus connection error: ${errorMessage(err)}` : notConnected(errorMessage(err))));
  // A socket destroyed by a failed write closes without 'end'; its 'error' (EPIPE, ECONNRESET) says why, and comes first.
  connection?.stream?.on('close', () => markLost(connected ? 'bus connection closed' : notConnected('the connection closed')));

  const send = bus.send.bind(bus);
  bus.send = (msg) => {
    if (lostReason !== undefined || closing) return;
    try {
      send(msg);
    } catch (err) {
      // dbus-next throws once a failed write has destroyed the socket, before its 'error' and
      // 'close' (which settle `lost` with the reason) are emitted: nobody can receive it any more.
      if (connection?.stream?.writable !== false) throw err;
    }
  };
  const call = bus.call.bind(bus);
  bus.call = (msg) => {
    if (lostReason !== undefined) return Promise.reject(new Error(lostReason));
    return new Promise((resolve, reject) => {
      waiting.add(reject);
      call(msg)
        .then(resolve, reject)
        .finally(() => waiting.delete(reject));
    });
  };

  return {
    bus,
    lost,
    isLost: () => lostReason !== undefined,
    close: () => {
      closing = true;
      for (const fail of waiting) fail(new Error('the bus connection was closed'));
      waiting.clear();
      bus.disconnect();
    },
  };
}
