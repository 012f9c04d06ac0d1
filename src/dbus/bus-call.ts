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

/**
 * Calls a method and returns its reply: the body, and the unique name of the connection that
 * answered (`sender`, set by the bus daemon, so nobody can forge it). Rejects on a D-Bus error (its
 * `type` is the error name) or after `timeoutMs` (TimeoutError).
 */
export async function callForReply(bus: dbus.MessageBus, call: BusCall, timeoutMs: number): Promise<{ body: unknown[]; sender: string | undefined }> {
  const msg = new dbus.Message({
    destination: call.destination,
    path: call.path,
    interface: call.iface,
    member: call.member,
    ...(call.signature ? { signature: call.signature, body: [...(call.body ?? [])] } : {}),
  });
  const reply = await withTimeout(bus.call(msg), timeoutMs, `${call.iface}.${call.member} on ${call.destination} ${call.path}`);
  return { body: reply?.body ?? [], sender: reply?.sender ?? undefined };
}

/** Calls a method and returns its reply body; rejects as callForReply does. */
export async function callMethod(bus: dbus.MessageBus, call: BusCall, timeoutMs: number): Promise<unknown[]> {
  return (await callForReply(bus, call, timeoutMs)).body;
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

/** Reads every property of one interface of an object as plain values (GetAll). */
export async function getAllProperties(
  bus: dbus.MessageBus,
  target: { readonly destination: string; readonly path: string; readonly iface: string },
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const [props] = await callMethod(
    bus,
    { destination: target.destination, path: target.path, iface: 'org.freedesktop.DBus.Properties', member: 'GetAll', signature: 's', body: [target.iface] },
    timeoutMs,
  );
  const out: Record<string, unknown> = {};
  if (props && typeof props === 'object') {
    for (const [k, v] of Object.entries(props as Record<string, unknown>)) out[k] = variantValue(v);
  }
  return out;
}

/** A signal-match rule with every value quoted (D-Bus match rule syntax). */
export function signalRule(fields: Record<string, string>): string {
  return ["type='signal'", ...Object.entries(fields).map(([k, v]) => `${k}='${v.replace(/'/g, "'\\''")}'`)].join(',');
}
