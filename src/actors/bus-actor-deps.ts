import type { Logger } from '../log.ts';
import type { BusConnection } from '../dbus/system-bus.ts';
import type { Settling } from '../util/settling.ts';

/** What the actors that talk over the daemon's bus connection share. */
export interface BusActorDeps {
  readonly conn: BusConnection;
  readonly log: Logger;
  /** Deadline of each D-Bus call. */
  readonly busCallTimeoutMs: number;
  /** Where an actor's cleanup leaves the close it cannot finish synchronously (awaited before the bus name is released). */
  readonly closing: Settling;
}

/**
 * Leaves `close` to the daemon's shutdown unless the bus is gone: then there is nobody to answer,
 * and waiting for a reply would only delay the exit.
 */
export function closeOnBus(deps: BusActorDeps, close: () => Promise<unknown>): void {
  if (deps.conn.isLost()) return;
  deps.closing.add(close());
}
