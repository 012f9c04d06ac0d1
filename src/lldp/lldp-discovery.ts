import type dbus from 'dbus-next';
import type { DiscoveryEvent } from '../../machines/events.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { lldpNames } from './lldp-names.ts';
import { watchLldp, type LldpWatcher } from './lldp-watcher.ts';
import { errorMessage } from '../util/error-message.ts';

/** What discovery needs: the daemon's bus connection, its configuration, and where events go. */
export interface LldpDiscoveryDeps {
  readonly bus: dbus.MessageBus;
  readonly config: Config;
  readonly log: Logger;
  /** Deadline of each D-Bus call. */
  readonly callTimeoutMs: number;
  /** Receives LLDP_NEIGHBOR (dialled on our own `port`) and LLDP_GONE: the daemon machine's send. */
  readonly send: (event: DiscoveryEvent) => void;
}

/** Running discovery; close() stops following the LLDP service. */
export interface LldpDiscovery {
  close(): Promise<void>;
}

/** Delay before trying again when the watcher could not even start (match rules refused, bus slow). */
const RESTART_MS = 5000;

/**
 * LLDP discovery as the daemon runs it: the watcher's changes become the machine's LLDP_NEIGHBOR /
 * LLDP_GONE events, as trust-store changes become TRUST_UPDATED. It never fails the daemon: a
 * watcher that cannot start is retried.
 */
export function startLldpDiscovery(deps: LldpDiscoveryDeps): LldpDiscovery {
  const log = deps.log.child({ component: 'lldp' });
  let watcher: LldpWatcher | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    watchLldp({
      bus: deps.bus,
      names: lldpNames(deps.config),
      ownName: deps.config.name,
      maxObjects: deps.config.lldp_max_neighbors,
      log,
      callTimeoutMs: deps.callTimeoutMs,
      onChange: (c) =>
        deps.send(
          c.type === 'up'
            ? { type: 'LLDP_NEIGHBOR', name: c.neighbour.name, address: c.neighbour.address, port: deps.config.port }
            : { type: 'LLDP_GONE', name: c.name },
        ),
    }).then(
      (w) => {
        if (stopped) void w.close();
        else watcher = w;
      },
      (err: unknown) => {
        if (stopped) return;
        log.warn(`LLDP discovery could not start: ${errorMessage(err)}; trying again in ${RESTART_MS / 1000} s`, {
          code: 'LLDP_WATCH_FAILED',
        });
        timer = setTimeout(start, RESTART_MS);
      },
    );
  };
  start();
  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await watcher?.close();
    },
  };
}
