import { fromCallback } from 'xstate';
import { selectPublishedProperties } from '../../machines/dbus-properties.ts';
import type { ProvisioningActor } from '../../machines/provisioning.machine.ts';
import { exportProvisioningService, type ProvisioningService } from '../dbus/provisioning-service.ts';
import type { Settling } from '../util/settling.ts';
import type { BusActorDeps } from './bus-actor-deps.ts';
import { errorMessage } from '../util/error-message.ts';

/** Where the exported service is found by the D-Bus projection (set once the name is owned). */
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
 * The root machine's `busName` actor, the daemon's lock: exports the Provisioning object and owns
 * `xyz.openbmc_project.Provisioning`, then says BUS_NAME_OWNED (the machine starts what touches the
 * world only then), or BUS_NAME_REFUSED with the reason (another instance owns it). Calls that
 * reach the object before the machine knows wait for it, and are refused (NOT_SERVING) if the name
 * is refused or the actor stops first.
 *
 * Stopped with the daemon actor, it goes out last: once the others' closes (`closing`) have
 * settled, it closes what `closeLast` closes (the state file's last write, the token), then releases
 * the name and closes the bus connection.
 */
export function createBusNameActor(deps: BusNameDeps) {
  const { conn, log } = deps;
  return fromCallback(({ sendBack }) => {
    let stopped = false;
    let open: () => void = () => undefined;
    let shut: (why: Error) => void = () => undefined;
    // Calls that reach the object before the machine knows wait for `ready`: it opens once the name
    // is owned, and shuts when it is refused or the daemon stops first, so that every call is answered.
    const ready = new Promise<void>((resolve, reject) => {
      open = resolve;
      shut = reject;
    });
    // A shut gate nobody waits for is no error.
    ready.catch(() => undefined);
    const root = deps.root();
    const owning = exportProvisioningService({
      bus: conn.bus,
      actor: root,
      log,
      ownName: deps.ownName,
      selfDeadlineMs: deps.selfDeadlineMs,
      busCallTimeoutMs: deps.busCallTimeoutMs,
      initial: selectPublishedProperties(root.getSnapshot()),
      beforeSelfReply: deps.beforeSelfReply,
      ready,
    }).then(
      (service) => {
        deps.slot.current = service;
        if (stopped) return service;
        sendBack({ type: 'BUS_NAME_OWNED' });
        open();
        return service;
      },
      (err: unknown) => {
        shut(new Error(`the bus name could not be owned: ${errorMessage(err)}`));
        if (!stopped) sendBack({ type: 'BUS_NAME_REFUSED', reason: errorMessage(err) });
        return undefined;
      },
    );

    const goOut = async () => {
      const service = await owning;
      // The daemon actor stops its other children right after this one, in the same call: by now
      // their cleanups have run and left their closes in `closing`.
      await deps.closing.settled();
      deps.slot.current = undefined;
      // The name is the lock on state_dir and the token (src/daemon.ts): the last state write lands
      // and the token is closed before it is released, so that the next instance, which may start
      // the moment the name is free, reads the state as this one left it.
      await deps.closeLast();
      // With the bus gone there is no name to release: waiting for a reply would only delay the exit.
      if (service && !conn.isLost()) await service.close().catch((err: unknown) => log.warn(`releasing the bus name: ${errorMessage(err)}`));
      conn.close();
    };
    return () => {
      stopped = true;
      // Settles nothing once the gate is open: a call already past it is answered as usual.
      shut(new Error('provisioningd is stopping'));
      deps.released.add(goOut());
    };
  });
}
