import dbus from 'dbus-next';
import { addMatch, callMethod, dbusErrorName, getAllProperties, nameOwner, removeMatch, signalRule, variantValue } from '../dbus/bus-call.ts';
import { BUS_DAEMON } from '../dbus/name-owner-watch.ts';
import type { Logger } from '../log.ts';
import { throttleWarnings } from '../log-throttle.ts';
import { isNeighbourPath, type LldpNames } from './lldp-names.ts';
import type { LldpNeighbour } from './neighbour-check.ts';
import { NeighbourTable, type NeighbourChange, type RawNeighbour, type TableUpdate } from './neighbour-table.ts';
import { errorMessage } from '../util/error-message.ts';

/** What the watcher needs: the bus, the configured names, limits, and whom to tell. */
export interface LldpWatcherDeps {
  readonly bus: dbus.MessageBus;
  readonly names: LldpNames;
  /** This BMC's name: a neighbour claiming it is refused. */
  readonly ownName: string;
  readonly maxObjects: number;
  readonly log: Logger;
  /** Deadline of each D-Bus call the watcher makes. */
  readonly callTimeoutMs: number;
  readonly onChange: (change: NeighbourChange) => void;
}

/** A running watcher: the current neighbours, and close() to stop listening. */
export interface LldpWatcher {
  neighbours(): LldpNeighbour[];
  close(): Promise<void>;
}

const PROPERTIES = 'org.freedesktop.DBus.Properties';
const OBJECT_MANAGER = 'org.freedesktop.DBus.ObjectManager';
const INTROSPECTABLE = 'org.freedesktop.DBus.Introspectable';
/** Errors that only mean "there is no such object (yet)". */
const ABSENT = /UnknownObject|UnknownInterface|UnknownMethod|InvalidArgs|ServiceUnknown|NameHasNoOwner/;

/** The SystemName / address pair out of an a{sv} property map (absent keys stay absent). */
function rawOf(names: LldpNames, props: unknown): RawNeighbour {
  if (!props || typeof props !== 'object') return {};
  const rec = props as Record<string, unknown>;
  const out: { name?: unknown; address?: unknown } = {};
  if (names.nameProperty in rec) out.name = variantValue(rec[names.nameProperty]);
  if (names.addressProperty in rec) out.address = variantValue(rec[names.addressProperty]);
  return out;
}

/**
 * Follows the LLDP service's neighbour objects for our interface: reads them at start (GetAll),
 * then follows InterfacesAdded, PropertiesChanged and InterfacesRemoved. If the service leaves
 * the bus the neighbours are kept; when it comes back everything is read again and reconciled.
 */
export async function watchLldp(deps: LldpWatcherDeps): Promise<LldpWatcher> {
  const { bus, names, log } = deps;
  const table = new NeighbourTable({ maxObjects: deps.maxObjects, ownName: deps.ownName });
  const warnings = throttleWarnings({ log });
  let owner: string | undefined;
  let closed = false;
  /** Signals that arrive while a full read is under way are applied after it. */
  let queued: dbus.Message[] | undefined;

  const apply = (update: TableUpdate) => {
    for (const p of update.problems) warnings.warn(`LLDP neighbour refused: ${p}`, { event: 'LLDP_NEIGHBOUR_REFUSED', code: 'LLDP_BAD_NEIGHBOUR' });
    for (const c of update.changes) {
      if (c.type === 'up') log.info(`LLDP neighbour ${c.neighbour.name} at ${c.neighbour.address}`, { peer: c.neighbour.name, event: 'LLDP_NEIGHBOR' });
      else log.info(`LLDP neighbour ${c.name} gone: no longer dialled (its trust is kept)`, { peer: c.name, event: 'LLDP_GONE' });
      try {
        deps.onChange(c);
      } catch (err) {
        log.error(`handling an LLDP change failed: ${errorMessage(err)}`);
      }
    }
  };

  const getAll = async (path: string): Promise<RawNeighbour | undefined> => {
    try {
      return rawOf(names, await getAllProperties(bus, { destination: names.service, path, iface: names.iface }, deps.callTimeoutMs));
    } catch (err) {
      if (ABSENT.test(dbusErrorName(err) ?? '')) return undefined;
      throw err;
    }
  };

  /** Child node names of the receive object (one object per neighbour on a shared segment). */
  const children = async (): Promise<string[]> => {
    try {
      const [xml] = await callMethod(
        bus,
        { destination: names.service, path: names.receivePath, iface: INTROSPECTABLE, member: 'Introspect' },
        deps.callTimeoutMs,
      );
      const text = typeof xml === 'string' ? xml : '';
      const out: string[] = [];
      for (const m of text.matchAll(/<node\s+name="([A-Za-z0-9_]+)"\s*\/?>/g)) {
        if (out.length >= deps.maxObjects) break;
        out.push(`${names.receivePath}/${m[1] ?? ''}`);
      }
      return out;
    } catch (err) {
      if (ABSENT.test(dbusErrorName(err) ?? '')) return [];
      throw err;
    }
  };

  const readAll = async (): Promise<void> => {
    queued = [];
    try {
      const found = new Map<string, RawNeighbour>();
      const paths = [names.receivePath, ...(await children())];
      for (const path of paths) {
        const raw = await getAll(path);
        if (raw) found.set(path, raw);
      }
      if (!closed) apply(table.resync(found));
      log.info(`LLDP: ${table.neighbours().length} neighbour(s) on ${names.receivePath} from ${names.service}`);
    } catch (err) {
      log.warn(`LLDP: cannot read ${names.receivePath} from ${names.service}: ${errorMessage(err)}`, {
        code: 'LLDP_READ_FAILED',
      });
    } finally {
      const later = queued;
      queued = undefined;
      for (const msg of later) handle(msg);
    }
  };

  const handleSignal = (msg: dbus.Message) => {
    if (msg.interface === BUS_DAEMON && msg.member === 'NameOwnerChanged') {
      // Only the bus daemon's word counts: any client may send us a signal of this name directly.
      if (msg.sender !== BUS_DAEMON) return;
      const [name, , now] = msg.body as [unknown, unknown, unknown];
      if (name !== names.service) return;
      owner = typeof now === 'string' && now ? now : undefined;
      if (owner) {
        log.info(`LLDP: ${names.service} is on the bus (${owner}); reading its neighbours`);
        void readAll();
      } else {
        log.warn(`LLDP: ${names.service} left the bus; keeping ${table.neighbours().length} neighbour(s) until it is back`, {
          code: 'LLDP_SERVICE_GONE',
        });
      }
      return;
    }
    if (!owner || msg.sender !== owner) return;
    if (msg.interface === OBJECT_MANAGER && msg.member === 'InterfacesAdded') {
      const [path, ifaces] = msg.body as [unknown, unknown];
      if (typeof path !== 'string' || !isNeighbourPath(names, path) || !ifaces || typeof ifaces !== 'object') return;
      const props = (ifaces as Record<string, unknown>)[names.iface];
      if (props !== undefined) apply(table.update(path, rawOf(names, props), 'replace'));
      return;
    }
    if (msg.interface === OBJECT_MANAGER && msg.member === 'InterfacesRemoved') {
      const [path, removed] = msg.body as [unknown, unknown];
      if (typeof path !== 'string' || !isNeighbourPath(names, path) || !Array.isArray(removed)) return;
      if (removed.includes(names.iface)) apply(table.remove(path));
      return;
    }
    if (msg.interface === PROPERTIES && msg.member === 'PropertiesChanged') {
      const [iface, changed, invalidated] = msg.body as [unknown, unknown, unknown];
      if (iface !== names.iface || !isNeighbourPath(names, msg.path)) return;
      apply(table.update(msg.path, rawOf(names, changed), 'merge'));
      const stale = Array.isArray(invalidated) ? invalidated : [];
      if (stale.includes(names.nameProperty) || stale.includes(names.addressProperty)) {
        const path = msg.path;
        void getAll(path)
          .then((raw) => apply(raw ? table.update(path, raw, 'replace') : table.remove(path)))
          .catch((err: unknown) => log.warn(`LLDP: re-reading ${path}: ${String(err)}`, { code: 'LLDP_READ_FAILED' }));
      }
    }
  };

  function handle(msg: dbus.Message): void {
    if (closed || msg.type !== dbus.MessageType.SIGNAL) return;
    if (queued) {
      if (queued.length < deps.maxObjects * 4) queued.push(msg);
      return;
    }
    try {
      handleSignal(msg);
    } catch (err) {
      log.warn(`LLDP: ignoring a malformed signal ${msg.interface}.${msg.member} from ${msg.sender}: ${String(err)}`, {
        code: 'LLDP_BAD_SIGNAL',
      });
    }
  }

  const rules = [
    signalRule({ sender: BUS_DAEMON, interface: BUS_DAEMON, member: 'NameOwnerChanged', arg0: names.service }),
    signalRule({ sender: names.service, interface: OBJECT_MANAGER }),
    signalRule({ sender: names.service, interface: PROPERTIES, member: 'PropertiesChanged', path_namespace: names.receivePath }),
  ];
  const close = async () => {
    closed = true;
    bus.removeListener('message', handle);
    warnings.close();
    // Every rule, also one whose AddMatch ran out of time: the bus daemon may have taken it (a rule it does not have is refused, and ignored here).
    for (const rule of rules) await removeMatch(bus, rule, deps.callTimeoutMs).catch(() => undefined);
  };
  bus.on('message', handle);
  try {
    for (const rule of rules) await addMatch(bus, rule, deps.callTimeoutMs);
    owner = await nameOwner(bus, names.service, deps.callTimeoutMs);
  } catch (err) {
    // A start that failed (a bus call refused or out of time) leaves nothing behind: the caller
    // starts again later, and a listener or match rule left from each try would pile up.
    await close();
    throw err;
  }
  if (owner) await readAll();
  else log.info(`LLDP: no ${names.service} on the bus yet; neighbours will be read when it appears`);

  return { neighbours: () => table.neighbours(), close };
}
