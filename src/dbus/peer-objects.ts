import dbus from 'dbus-next';
import type { PeerView } from '../../machines/peer-projection.ts';
import type { Logger } from '../log.ts';
import { PROVISIONING_PATH } from './names.ts';
import { exportObjectManager, type InterfaceMap } from './object-manager.ts';
import { escapePathLabel } from './object-path-label.ts';

const { Interface, ACCESS_READ } = dbus.interface;

/** The per-peer interface (docs/dbus-api.md, "Per-peer objects"). */
export const PEER_INTERFACE = 'xyz.openbmc_project.Provisioning.Peer';
/** Parent of the per-peer objects. */
export const PEERS_PATH = `${PROVISIONING_PATH}/peers`;

/** The object path of a peer: its name escaped as sdbusplus does (`bmc-b` → `bmc_2db`). */
export const peerObjectPath = (name: string) => `${PEERS_PATH}/${escapePathLabel(name)}`;

class PeerInterface extends Interface {
  // A plain field: dbus-next may call the getters on the prototype, before construction.
  view: PeerView | undefined;
  get peerConnected(): string {
    return this.view?.peerConnected ?? 'xyz.openbmc_project.Provisioning.Provisioning.PeerConnectionStatus.NotDetermined';
  }
  get lastFailure(): string {
    return this.view?.lastFailure ?? '';
  }
  get attested(): boolean {
    return this.view?.attested ?? false;
  }
  get lastAttested(): bigint {
    return BigInt(this.view?.lastAttested ?? 0);
  }
  get attestationStale(): boolean {
    return this.view?.attestationStale ?? false;
  }
  /** Emits the signal (dbus-next sends what the method returns). */
  AttestationRevoked(reason: string): string {
    return reason;
  }
}
PeerInterface.configureMembers({
  properties: {
    peerConnected: { signature: 's', access: ACCESS_READ },
    lastFailure: { signature: 's', access: ACCESS_READ },
    attested: { signature: 'b', access: ACCESS_READ },
    lastAttested: { signature: 't', access: ACCESS_READ },
    attestationStale: { signature: 'b', access: ACCESS_READ },
  },
  signals: { AttestationRevoked: { signature: 's' } },
});

const propsOf = (v: PeerView): InterfaceMap => ({
  [PEER_INTERFACE]: {
    peerConnected: new dbus.Variant('s', v.peerConnected),
    lastFailure: new dbus.Variant('s', v.lastFailure),
    attested: new dbus.Variant('b', v.attested),
    lastAttested: new dbus.Variant('t', BigInt(v.lastAttested)),
    attestationStale: new dbus.Variant('b', v.attestationStale),
  },
});

/** The exported per-peer objects: publish() the latest views; close() unexports everything. */
export interface PeerObjects {
  publish(views: readonly PeerView[]): void;
  close(): void;
}

/**
 * One object per peer under /xyz/openbmc_project/Provisioning/peers, plus the ObjectManager at
 * /xyz/openbmc_project/Provisioning, so that `busctl tree` and GetManagedObjects show them. Only
 * changes are sent: InterfacesAdded / InterfacesRemoved for peers that come and go,
 * PropertiesChanged for the properties that changed, and `AttestationRevoked(s reason)` on the
 * peer's object when a failed re-attestation revoked its trust.
 */
export function exportPeerObjects(opts: { bus: dbus.MessageBus; log: Logger }): PeerObjects {
  const objects = new Map<string, { path: string; iface: PeerInterface }>();
  const manager = exportObjectManager(opts.bus, PROVISIONING_PATH, () => {
    const out = new Map<string, InterfaceMap>();
    for (const o of objects.values()) if (o.iface.view) out.set(o.path, propsOf(o.iface.view));
    return out;
  });
  return {
    publish(views) {
      const seen = new Set<string>();
      for (const v of views) {
        seen.add(v.name);
        const have = objects.get(v.name);
        if (!have) {
          const path = peerObjectPath(v.name);
          const iface = new PeerInterface(PEER_INTERFACE);
          iface.view = v;
          opts.bus.export(path, iface);
          objects.set(v.name, { path, iface });
          manager.added(path, propsOf(v));
          opts.log.debug(`peer object ${path}`, { peer: v.name });
          continue;
        }
        const before = have.iface.view;
        have.iface.view = v;
        const changed: Record<string, unknown> = {};
        if (before?.peerConnected !== v.peerConnected) changed['peerConnected'] = v.peerConnected;
        if (before?.lastFailure !== v.lastFailure) changed['lastFailure'] = v.lastFailure;
        if (before?.attested !== v.attested) changed['attested'] = v.attested;
        if (before?.lastAttested !== v.lastAttested) changed['lastAttested'] = BigInt(v.lastAttested);
        if (before?.attestationStale !== v.attestationStale) changed['attestationStale'] = v.attestationStale;
        if (Object.keys(changed).length) Interface.emitPropertiesChanged(have.iface, changed, []);
        // A new revocation in this run: announced once, with lastFailure's reason.
        if (v.revocations > (before?.revocations ?? 0)) have.iface.AttestationRevoked(v.lastFailure);
      }
      for (const [name, o] of [...objects]) {
        if (seen.has(name)) continue;
        objects.delete(name);
        opts.bus.unexport(o.path, o.iface);
        manager.removed(o.path, [PEER_INTERFACE]);
        opts.log.debug(`peer object ${o.path} removed`, { peer: name });
      }
    },
    close() {
      for (const o of objects.values()) opts.bus.unexport(o.path, o.iface);
      objects.clear();
      manager.close();
    },
  };
}
