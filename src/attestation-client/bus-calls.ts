import dbus from 'dbus-next';
import { withTimeout } from '../util/with-timeout.ts';

/** One method call as sent by provisioningd's attestation adapters: destination, object, member, arguments. */
export interface BusCall {
  readonly destination: string;
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: unknown[];
}

/** A method call with a deadline; rejects with the D-Bus error (its `type` is the error name) or a TimeoutError. */
export async function callWithTimeout(bus: dbus.MessageBus, call: BusCall, timeoutMs: number): Promise<unknown[]> {
  return (await callForReply(bus, call, timeoutMs)).body;
}

/**
 * A method call with a deadline, answered with its reply: the body, and the unique name of the
 * connection that answered (`sender`, set by the bus daemon, so nobody can forge it).
 */
export async function callForReply(bus: dbus.MessageBus, call: BusCall, timeoutMs: number): Promise<{ body: unknown[]; sender: string | undefined }> {
  const msg = new dbus.Message({
    destination: call.destination,
    path: call.path,
    interface: call.interface,
    member: call.member,
    signature: call.signature ?? '',
    body: call.body ?? [],
  });
  const reply = await withTimeout(bus.call(msg), timeoutMs, `${call.interface}.${call.member} on ${call.path}`);
  return { body: reply?.body ?? [], sender: reply?.sender ?? undefined };
}

const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' } as const;

/** Adds a match rule (so the bus daemon routes those signals to us); returns the function that removes it. */
export async function addMatch(bus: dbus.MessageBus, rule: string, timeoutMs: number): Promise<() => Promise<void>> {
  await callWithTimeout(bus, { ...BUS, member: 'AddMatch', signature: 's', body: [rule] }, timeoutMs);
  return async () => {
    await callWithTimeout(bus, { ...BUS, member: 'RemoveMatch', signature: 's', body: [rule] }, timeoutMs).catch(() => undefined);
  };
}

/** The unique name (`:1.42`) that owns a well-known name now, or undefined when nobody does. */
export async function nameOwner(bus: dbus.MessageBus, name: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const [owner] = await callWithTimeout(bus, { ...BUS, member: 'GetNameOwner', signature: 's', body: [name] }, timeoutMs);
    return typeof owner === 'string' ? owner : undefined;
  } catch (err) {
    if ((err as { type?: unknown }).type === 'org.freedesktop.DBus.Error.NameHasNoOwner') return undefined;
    throw err;
  }
}

/** Reads every property of one interface as plain values. */
export async function getAllProperties(
  bus: dbus.MessageBus,
  target: { destination: string; path: string; interface: string },
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const [props] = await callWithTimeout(
    bus,
    { destination: target.destination, path: target.path, interface: 'org.freedesktop.DBus.Properties', member: 'GetAll', signature: 's', body: [target.interface] },
    timeoutMs,
  );
  const out: Record<string, unknown> = {};
  if (props && typeof props === 'object') {
    for (const [k, v] of Object.entries(props as Record<string, { value?: unknown }>)) out[k] = v?.value;
  }
  return out;
}

/** A signal-match rule with every value quoted (D-Bus match rule syntax). */
export function signalRule(fields: Record<string, string>): string {
  return ["type='signal'", ...Object.entries(fields).map(([k, v]) => `${k}='${v.replace(/'/g, "'\\''")}'`)].join(',');
}
