import { fromCallback } from 'xstate';
import type { Config } from '../config/schema.ts';
import { startLldpDiscovery } from '../lldp/lldp-discovery.ts';
import { closeOnBus, type BusActorDeps } from './bus-actor-deps.ts';

/** The root machine's `lldpDiscovery` actor: LLDP_NEIGHBOR / LLDP_GONE from lldpd's D-Bus service for as long as the daemon runs. */
export function createLldpDiscoveryActor(deps: BusActorDeps & { readonly config: Config }) {
  return fromCallback(({ sendBack }) => {
    const discovery = startLldpDiscovery({
      bus: deps.conn.bus,
      config: deps.config,
      log: deps.log,
      callTimeoutMs: deps.busCallTimeoutMs,
      send: sendBack,
    });
    return () => closeOnBus(deps, () => discovery.close());
  });
}
