import dbus from 'dbus-next';
import { escapePathLabel } from '../dbus/object-path-label.ts';
import { exportObjectManager, type InterfaceMap, type ObjectManager } from '../dbus/object-manager.ts';
import type { Logger } from '../log.ts';
import { withTimeout } from '../util/with-timeout.ts';
import { neighbourKey, type LldpdNeighbour, type LldpdReport } from './lldpd-json.ts';

const { Interface, ACCESS_READ } = dbus.interface;

/** The D-Bus names the bridge publishes under (the OpenBMC LLDP proposal's, by default). */
export interface LldpBridgeNames {
  readonly service: string;
  /** Root of the objects and home of the ObjectManager, e.g. /xyz/openbmc_project/network/lldp. */
  readonly objectRoot: string;
  readonly iface: string;
}

/** The proposal's default names. */
export const DEFAULT_BRIDGE_NAMES: LldpBridgeNames = {
  service: 'xyz.openbmc_project.LLDP',
  objectRoot: '/xyz/openbmc_project/network/lldp',
  iface: 'xyz.openbmc_project.Network.LLDP.TLVs',
};

/** The TLVs one receive object shows. */
class TlvsInterface extends Interface {
  // Plain field: dbus-next may call the getters on the prototype, before construction.
  tlv: LldpdNeighbour | undefined;
  get SystemName(): string {
    return this.tlv?.systemName ?? '';
  }
  get ManagementAddressIPv4(): string {
    return this.tlv?.managementAddressIPv4 ?? '';
  }
  get ManagementAddressIPv6(): string {
    return this.tlv?.managementAddressIPv6 ?? '';
  }
  get ChassisId(): string {
    return this.tlv?.chassisId ?? '';
  }
  get PortId(): string {
    return this.tlv?.portId ?? '';
  }
}
const PROPS = ['SystemName', 'ManagementAddressIPv4', 'ManagementAddressIPv6', 'ChassisId', 'PortId'] as const;
TlvsInterface.configureMembers({
  properties: Object.fromEntries(PROPS.map((p) => [p, { signature: 's', access: ACCESS_READ }])),
});

function propsOf(n: LldpdNeighbour): Record<(typeof PROPS)[number], string> {
  return {
    SystemName: n.systemName,
    ManagementAddressIPv4: n.managementAddressIPv4,
    ManagementAddressIPv6: n.managementAddressIPv6,
    ChassisId: n.chassisId,
    PortId: n.portId,
  };
}

interface Published {
  readonly path: string;
  readonly iface: TlvsInterface;
}

/** Thrown by startLldpBridge when another process owns the name: starting again cannot help until it lets go. */
export class BridgeNameTakenError extends Error {
  override readonly name = 'BridgeNameTakenError';
}

/** Options of the bridge's D-Bus side. */
export interface LldpBridgeOptions {
  readonly bus: dbus.MessageBus;
  readonly names: LldpBridgeNames;
  readonly log: Logger;
  /** Most neighbours published at once (more are logged and left out). */
  readonly maxNeighbours: number;
  readonly busCallTimeoutMs: number;
}

/** The bridge's published state: feed it lldpd reports; close() releases the name. */
export interface LldpBridge {
  apply(report: LldpdReport): void;
  /** Number of neighbour objects published. */
  readonly size: number;
  close(): Promise<void>;
}

/**
 * Publishes lldpd's neighbours in the OpenBMC LLDP shape: the first neighbour of an interface at
 * `<root>/<if>/receive` (the proposal's object), any further one on the same segment at
 * `<root>/<if>/receive/n<rid>`. A path stays with its neighbour for the neighbour's lifetime.
 */
export async function startLldpBridge(opts: LldpBridgeOptions): Promise<LldpBridge> {
  const { bus, names, log } = opts;
  const published = new Map<string, Published>();
  const usedPaths = new Set<string>();
  let full = false;

  const objects = () => {
    const out = new Map<string, InterfaceMap>();
    for (const p of published.values()) {
      const tlv = p.iface.tlv;
      if (!tlv) continue;
      const props = propsOf(tlv);
      out.set(p.path, { [names.iface]: Object.fromEntries(Object.entries(props).map(([k, v]) => [k, new dbus.Variant('s', v)])) });
    }
    return out;
  };
  const manager: ObjectManager = exportObjectManager(bus, names.objectRoot, objects);

  const pathFor = (n: LldpdNeighbour) => {
    const base = `${names.objectRoot}/${escapePathLabel(n.localInterface)}/receive`;
    if (!usedPaths.has(base)) return base;
    const suffix = /^\d{1,10}$/.test(n.rid) ? `n${n.rid}` : escapePathLabel(`${n.chassisId}/${n.portId}`).slice(0, 200);
    let path = `${base}/${suffix}`;
    for (let i = 2; usedPaths.has(path); i++) path = `${base}/${suffix}_${i}`;
    return path;
  };

  const upsert = (n: LldpdNeighbour) => {
    const key = neighbourKey(n);
    const have = published.get(key);
    if (have) {
      const before = have.iface.tlv ? propsOf(have.iface.tlv) : undefined;
      have.iface.tlv = n;
      const after = propsOf(n);
      const changed = Object.fromEntries(Object.entries(after).filter(([k, v]) => before?.[k as keyof typeof after] !== v));
      if (Object.keys(changed).length) Interface.emitPropertiesChanged(have.iface, changed, []);
      return;
    }
    if (published.size >= opts.maxNeighbours) {
      if (!full) log.warn(`more than ${opts.maxNeighbours} LLDP neighbours: further ones are not published`, { code: 'LLDP_TOO_MANY' });
      full = true;
      return;
    }
    const path = pathFor(n);
    const iface = new TlvsInterface(names.iface);
    iface.tlv = n;
    bus.export(path, iface);
    usedPaths.add(path);
    published.set(key, { path, iface });
    const props = propsOf(n);
    manager.added(path, { [names.iface]: Object.fromEntries(Object.entries(props).map(([k, v]) => [k, new dbus.Variant('s', v)])) });
    log.info(`neighbour ${JSON.stringify(n.systemName)} (${n.managementAddressIPv4 || 'no IPv4'}) on ${n.localInterface} at ${path}`);
  };

  const drop = (key: string) => {
    const have = published.get(key);
    if (!have) return;
    published.delete(key);
    usedPaths.delete(have.path);
    bus.unexport(have.path, have.iface);
    manager.removed(have.path, [names.iface]);
    full = false;
    log.info(`neighbour ${JSON.stringify(have.iface.tlv?.systemName ?? '')} gone from ${have.path}`);
  };

  const reply = await withTimeout(bus.requestName(names.service, dbus.NameFlag.DO_NOT_QUEUE), opts.busCallTimeoutMs, `RequestName ${names.service}`);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
    manager.close();
    throw new BridgeNameTakenError(`cannot own ${names.service}: another process owns it (reply ${reply})`);
  }

  return {
    apply(report) {
      if (report.kind === 'table') {
        const keep = new Set(report.neighbours.map(neighbourKey));
        for (const key of [...published.keys()]) if (!keep.has(key)) drop(key);
        for (const n of report.neighbours) upsert(n);
      } else if (report.kind === 'deleted') {
        for (const n of report.neighbours) drop(neighbourKey(n));
      } else {
        for (const n of report.neighbours) upsert(n);
      }
    },
    get size() {
      return published.size;
    },
    async close() {
      for (const key of [...published.keys()]) drop(key);
      manager.close();
      await withTimeout(bus.releaseName(names.service), opts.busCallTimeoutMs, 'ReleaseName').catch(() => undefined);
    },
  };
}
