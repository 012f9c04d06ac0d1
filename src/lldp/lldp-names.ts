import type { Config } from '../config/schema.ts';
import { escapePathLabel } from '../dbus/object-path-label.ts';

/**
 * The LLDP D-Bus names provisioningd consumes. The upstream API is a proposal still changing, so
 * every name comes from configuration (docs/configuration.md, "Discovery").
 */
export interface LldpNames {
  readonly service: string;
  /** The receive object of our management interface: `<root>/<interface_id>/receive`. */
  readonly receivePath: string;
  readonly iface: string;
  readonly nameProperty: string;
  readonly addressProperty: string;
}

/** The names for this configuration. */
export function lldpNames(config: Pick<Config, 'lldp_service' | 'lldp_object_root' | 'lldp_interface' | 'lldp_name_property' | 'lldp_address_property' | 'interface_id'>): LldpNames {
  return {
    service: config.lldp_service,
    receivePath: `${config.lldp_object_root}/${escapePathLabel(config.interface_id)}/receive`,
    iface: config.lldp_interface,
    nameProperty: config.lldp_name_property,
    addressProperty: config.lldp_address_property,
  };
}

/**
 * Whether an object path carries a neighbour of our interface: the receive object itself (the
 * upstream shape, one neighbour per interface) or one below it (`…/receive/<id>`, one object per
 * neighbour when a segment has several, as the lldp bridge publishes them).
 */
export function isNeighbourPath(names: LldpNames, path: string): boolean {
  if (path === names.receivePath) return true;
  if (!path.startsWith(`${names.receivePath}/`)) return false;
  return /^[A-Za-z0-9_]+$/.test(path.slice(names.receivePath.length + 1));
}
