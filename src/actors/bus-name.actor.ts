import { fromCallback } from 'xstate';
import { selectPublishedProperties } from '../../machines/dbus-properties.ts';
import type { ProvisioningActor } from '../../machines/provisioning.machine.ts';
import { exportProvisioningService, type ProvisioningService } from '../dbus/provisioning-service.ts';
import type { Settling } from '../util/settling.ts';
import type { BusActorDeps } from './bus-actor-deps.ts';
import { errorMessage } from '../util/error-message.ts';

/** Where the exported service is found by the D-Bus projection (set once the object is exported). */
export interface ServiceSlot {
  current: ProvisioningService | undefined;
}

/** What the lock needs: the bus, the daemon actor it serves, and what closes after the name is released. */
export interface BusNameDeps extends BusActorDeps {
  /** This BMC's name (`name`): never a peer. */
  readonly ownName: string;
  /** How long ProvisionPeer("self") waits for the issuance. */
  readonly selfDeadlineMs: number;
  readonly root: () => ProvisioningActor;
  readonly slot: ServiceSlot;
  /** Runs before a successful ProvisionPeer("self") is answered (persisting the flag). */
  readonly beforeSelfReply: () => Promise<void>;
  /** What closes before the name is released (the state file's last write, the token): the name is their lock. */
  readonly closeLast: () => Promise<void>;
  /** Where the whole way out is left: stopping the daemon is over once it has settled. */
  readonly released: Settling;
}

/**
 * The root machine's `busName` actor, the daemon's lock. Its connection owns
 * `xyz.openbmc_project.Provisioning` already (startDaemon claimed it before reading the disk, and
 * the bus daemon never takes it away while the connection lives): it exports the Provisioning
 * object there and says BUS_NAME_OWNED, and the machine starts what touches the world only then.
 *
 * Stopped with the daemon actor, it goes out last: ProvisionPeer is refused (NOT_SERVING) from the
 * stop on; once the others' closes (`closing`) have settled, it closes what `closeLast` closes (the
 * state file's last write, the token), then releases the name and closes the bus connection.
 */
export function createBusNameActor(deps: BusNameDeps) {
  const { conn, log } = deps;
  return fromCallback(({ sendBack }) => {
    const root = deps.root();
    const service = exportProvisioningService({
      bus: conn.bus,
      actor: root,
      log,
      ownName: deps.ownName,
      selfDeadlineMs: deps.selfDeadlineMs,
      busCallTimeoutMs: deps.busCallTimeoutMs,
      initial: selectPublishedProperties(root.getSnapshot()),
      beforeSelfReply: deps.beforeSelfReply,
    });
    deps.slot.current = service;
    sendBack({ type: 'BUS_NAME_OWNED' });

    const goOut = async () => {
      // The daemon actor stops its other children right after this one, in the same call: by now
      // their cleanups have run and left their closes in `closing`.
      await deps.closing.settled();
      deps.slot.current = undefined;
      // The name is the lock on state_dir and the token (src/daemon.ts): the last state write lands
      // and the token is closed before it is released, so that the next instance, which may start
      // the moment the name is free, reads the state as this one left it.
      await deps.closeLast();
      // With the bus gone there is no name to release: waiting for a reply would only delay the exit.
      if (!conn.isLost()) await service.close().catch((err: unknown) => log.warn(`releasing the bus name: ${errorMessage(err)}`));
      conn.close();
    };
    return () => {
      // The machine that would answer is stopped: a call from now on is told so at once.
      service.stopServing('provisioningd is stopping');
      deps.released.add(goOut());
    };
  });
}
