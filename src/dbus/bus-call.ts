import dbus from 'dbus-next';
import { withTimeout } from '../util/with-timeout.ts';

/** One method call on the bus, described by its address and arguments. */
export interface BusCall {
  readonly destination: string;
  readonly path: string;
  readonly iface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: readonly unknown[];
}

/** Calls a method and returns its reply body; rejects on a D-Bus error or after `timeoutMs`. */
export async function callMethod(bus: dbus.MessageBus, call: BusCall, timeoutMs: number): Promise<unknown[]> {
  const msg = new dbus.Message({
    destination: call.destination,
    path: call.path,
    interface: call.iface,
    member: call.member,
    ...(call.signature ? { signature: call.signature, body: [...(call.body ?? [])] } : {}),
  });
  const reply = await withTimeout(bus.call(msg), timeoutMs, `${call.iface}.${call.member} on ${call.destination} ${call.path}`);
  return reply?.body ?? [];
}

/** The D-Bus error name of a failed call, if it was one. */
export function dbusErrorName(err: unknown): string | undefined {
  return err instanceof dbus.DBusError ? err.type : undefined;
}

const busDaemon = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', iface: 'org.freedesktop.DBus' };

/** Adds a match rule so that the bus daemon routes those signals to us (read them with bus.on('message')). */
export async function addMatch(bus: dbus.MessageBus, rule: string, timeoutMs: number): Promise<void> {
  await callMethod(bus, { ...busDaemon, member: 'AddMatch', signature: 's', body: [rule] }, timeoutMs);
}

/** Removes a match rule added with addMatch. */
export async function removeMatch(bus: dbus.MessageBus, rule: string, timeoutMs: number): Promise<void> {
  await callMethod(bus, { ...busDaemon, member: 'RemoveMatch', signature: 's', body: [rule] }, timeoutMs);
}

/** The unique name owning `name`, or undefined when nobody owns it. */
export async function nameOwner(bus: dbus.MessageBus, name: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const [owner] = await callMethod(bus, { ...busDaemon, member: 'GetNameOwner', signature: 's', body: [name] }, timeoutMs);
    return typeof owner === 'string' ? owner : undefined;
  } catch (err) {
    if (dbusErrorName(err) === 'org.freedesktop.DBus.Error.NameHasNoOwner') return undefined;
    throw err;
  }
}

/** The plain value inside a dbus-next Variant (or the value itself when it is not one). */
export function variantValue(v: unknown): unknown {
  return v instanceof dbus.Variant ? v.value : v;
}
