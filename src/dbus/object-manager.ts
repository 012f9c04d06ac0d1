import dbus from 'dbus-next';

const { Interface } = dbus.interface;

/** Interfaces and their properties of one object, as GetManagedObjects and InterfacesAdded carry them. */
export type InterfaceMap = Record<string, Record<string, dbus.Variant>>;

/** Supplies the current managed objects (path → interfaces) whenever a client asks. */
export type ManagedObjectsSource = () => ReadonlyMap<string, InterfaceMap>;

/**
 * `org.freedesktop.DBus.ObjectManager` as dbus-next does not provide it: GetManagedObjects from a
 * source function, and the two signals, sent with added()/removed().
 */
class ObjectManagerInterface extends Interface {
  // A plain field: dbus-next may touch members on the prototype before construction.
  source: ManagedObjectsSource | undefined;

  GetManagedObjects(): Record<string, InterfaceMap> {
    return Object.fromEntries(this.source?.() ?? new Map());
  }

  InterfacesAdded(path: string, interfaces: InterfaceMap): [string, InterfaceMap] {
    return [path, interfaces];
  }

  InterfacesRemoved(path: string, interfaces: string[]): [string, string[]] {
    return [path, interfaces];
  }
}

ObjectManagerInterface.configureMembers({
  methods: { GetManagedObjects: { inSignature: '', outSignature: 'a{oa{sa{sv}}}' } },
  signals: {
    InterfacesAdded: { signature: 'oa{sa{sv}}' },
    InterfacesRemoved: { signature: 'oas' },
  },
});

/** An exported ObjectManager: announce objects as they come and go; close() unexports it. */
export interface ObjectManager {
  added(path: string, interfaces: InterfaceMap): void;
  removed(path: string, interfaces: readonly string[]): void;
  close(): void;
}

/** Exports an ObjectManager at `path` (the root of the objects it manages). */
export function exportObjectManager(bus: dbus.MessageBus, path: string, source: ManagedObjectsSource): ObjectManager {
  const iface = new ObjectManagerInterface('org.freedesktop.DBus.ObjectManager');
  iface.source = source;
  bus.export(path, iface);
  return {
    added: (p, interfaces) => void iface.InterfacesAdded(p, interfaces),
    removed: (p, interfaces) => void iface.InterfacesRemoved(p, [...interfaces]),
    close: () => bus.unexport(path, iface),
  };
}
