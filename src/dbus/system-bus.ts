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

/**
 * Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured by dbus-next). dbus-next emits
 * no error when the bus daemon dies and would let the process exit 0, so the stream's end is
 * watched here and turned into `lost`.
 */
export function connectSystemBus(): BusConnection {
  const bus = dbus.systemBus();
  let closing = false;
  let gone = false;
  const lost = new Promise<string>((resolve) => {
    bus.on('error', (err: unknown) => {
      if (!closing) resolve(`bus error: ${errorMessage(err)}`);
    });
    const connection = (bus as unknown as { _connection?: EventEmitter })._connection;
    connection?.on('end', () => {
      if (!closing) resolve('bus connection closed by the bus daemon');
    });
    connection?.on('error', (err: unknown) => {
      if (!closing) resolve(`bus connection error: ${errorMessage(err)}`);
    });
  });
  void lost.then(() => {
    gone = true;
  });
  return {
    bus,
    lost,
    isLost: () => gone,
    close: () => {
      closing = true;
      bus.disconnect();
    },
  };
}
