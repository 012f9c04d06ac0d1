import { fromCallback } from 'xstate';
import { selectPublishedProperties } from '../../machines/dbus-properties.ts';
import { selectPeerViews } from '../../machines/peer-projection.ts';
import type { ProvisioningActor } from '../../machines/provisioning.machine.ts';
import type { Logger } from '../log.ts';
import { eachSnapshot } from './each-snapshot.ts';
import { exportPeerObjects } from '../dbus/peer-objects.ts';
import type { ProvisioningService } from '../dbus/provisioning-service.ts';
import type dbus from 'dbus-next';

/** What the projection reads from and writes to; getters, because the daemon actor exists only once the machine is provided, and its service once the bus name is owned. */
export interface DbusProjectionDeps {
  readonly bus: dbus.MessageBus;
  readonly log: Logger;
  /** The daemon actor whose snapshot (with its peer machines') is projected. */
  readonly root: () => ProvisioningActor;
  /** The exported provisioning service that publishes the properties (there once the bus name is owned). */
  readonly service: () => ProvisioningService | undefined;
}

/**
 * The root machine's `dbusProjection` actor: after the snapshots of any actor of the daemon change,
 * publishes what machines/ selects: the service's properties (selectPublishedProperties) and one
 * object per peer (selectPeerViews). It publishes once per turn of the event loop (setImmediate),
 * after the I/O of that turn: a reply the turn's work owes a caller (ProvisionPeer) goes out first,
 * and the states a peer passed through within one turn make one PropertiesChanged with its last
 * values. Stopping it unexports the peer objects and publishes nothing more.
 */
export function createDbusProjectionActor(deps: DbusProjectionDeps) {
  return fromCallback(({ system }) => {
    const peerObjects = exportPeerObjects({ bus: deps.bus, log: deps.log });
    const stop = eachSnapshot(
      system,
      () => {
        const snapshot = deps.root().getSnapshot();
        peerObjects.publish(selectPeerViews(snapshot));
        deps.service()?.publish(selectPublishedProperties(snapshot));
      },
      { now: true, perTurn: true },
    );
    return () => {
      stop();
      peerObjects.close();
    };
  });
}
