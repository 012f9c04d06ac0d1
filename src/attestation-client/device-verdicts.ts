import dbus from 'dbus-next';
import { ATTESTATION_SERVICE, DEVICE_INTERFACE, REQUESTER_ROOT } from '../attestationd/names.ts';
import { addMatch, signalRule } from '../dbus/bus-call.ts';

/** The properties attestationd sets for a verdict, all four, in one PropertiesChanged just before Attested(b). */
const VERDICT_PROPERTIES = ['status', 'last_failure', 'provisioning_ca', 'device_subject'] as const;

/** A verdict: Attested(b)'s value and, when they came with it, the verdict's properties (plain values). */
export interface DeviceVerdict {
  readonly ok: boolean;
  readonly properties?: Readonly<Record<string, unknown>>;
}

/** One attestation waiting for its verdict: the unique name that must send it. */
interface Waiter {
  readonly owner: string;
  readonly resolve: (verdict: DeviceVerdict) => void;
}

/** A verdict being waited for; cancel() stops waiting (the promise then never settles). */
export interface PendingVerdict {
  readonly verdict: Promise<DeviceVerdict>;
  cancel(): void;
}

/**
 * The `Attested(b)` verdicts of attestationd's requester objects on one bus connection, shared by
 * every attestation on it: match rules for all requester objects (added on first use, kept for the
 * life of the connection; the bus daemon drops them with the connection) and one message listener
 * that hands each verdict to the attestations waiting on that object. A verdict counts only from
 * the unique name the waiter names (the owner of `xyz.openbmc_project.attestation` that answered
 * its AddDevice): anybody may emit a signal named `Attested`. The PropertiesChanged the same sender
 * emits for that object right before the verdict carries the verdict's properties, which spares a
 * GetAll; without it the caller reads them.
 */
export class DeviceVerdicts {
  readonly #bus: dbus.MessageBus;
  #match: Promise<void> | undefined;
  readonly #waiting = new Map<string, Set<Waiter>>();
  /** The last complete set of verdict properties per waited-for object, with its sender. */
  readonly #properties = new Map<string, { sender: string; values: Record<string, unknown> }>();

  constructor(bus: dbus.MessageBus) {
    this.#bus = bus;
    bus.on('message', (msg: dbus.Message) => this.#onMessage(msg));
  }

  /** Resolves once the bus daemon routes the verdicts to us (AddMatch, once per connection; a failed one is tried again on the next call). */
  subscribe(timeoutMs: number): Promise<void> {
    if (!this.#match) {
      const verdicts = signalRule({ sender: ATTESTATION_SERVICE, interface: DEVICE_INTERFACE, member: 'Attested', path_namespace: REQUESTER_ROOT });
      const properties = signalRule({
        sender: ATTESTATION_SERVICE,
        interface: 'org.freedesktop.DBus.Properties',
        member: 'PropertiesChanged',
        path_namespace: REQUESTER_ROOT,
        arg0: DEVICE_INTERFACE,
      });
      const match = Promise.all([addMatch(this.#bus, verdicts, timeoutMs), addMatch(this.#bus, properties, timeoutMs)]).then(() => undefined);
      match.catch(() => {
        if (this.#match === match) this.#match = undefined;
      });
      this.#match = match;
    }
    return this.#match;
  }

  /** Waits for the next verdict on `path` sent by `owner`; register it before calling attest(). */
  wait(path: string, owner: string): PendingVerdict {
    let waiter: Waiter | undefined;
    const verdict = new Promise<DeviceVerdict>((resolve) => {
      waiter = { owner, resolve };
    });
    const set = this.#waiting.get(path) ?? new Set<Waiter>();
    if (waiter) set.add(waiter);
    this.#waiting.set(path, set);
    return {
      verdict,
      cancel: () => {
        if (waiter) set.delete(waiter);
        if (set.size === 0 && this.#waiting.get(path) === set) this.#forget(path);
      },
    };
  }

  #forget(path: string): void {
    this.#waiting.delete(path);
    this.#properties.delete(path);
  }

  #onMessage(msg: dbus.Message): void {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.path === undefined || msg.sender === undefined) return;
    const set = this.#waiting.get(msg.path);
    if (!set) return;
    if (msg.interface === 'org.freedesktop.DBus.Properties' && msg.member === 'PropertiesChanged') {
      const values = verdictProperties(msg.body);
      const sender = msg.sender;
      if (values && [...set].some((w) => w.owner === sender)) this.#properties.set(msg.path, { sender, values });
      return;
    }
    if (msg.member !== 'Attested' || msg.interface !== DEVICE_INTERFACE) return;
    const carried = this.#properties.get(msg.path);
    this.#properties.delete(msg.path);
    const properties = carried?.sender === msg.sender ? carried.values : undefined;
    for (const w of [...set]) {
      if (w.owner !== msg.sender) continue;
      set.delete(w);
      w.resolve({ ok: msg.body[0] === true, ...(properties ? { properties } : {}) });
    }
    if (set.size === 0) this.#forget(msg.path);
  }
}

/** The verdict's properties from a PropertiesChanged body of the device interface, when it carries all of them. */
function verdictProperties(body: unknown[]): Record<string, unknown> | undefined {
  const [iface, changed] = body;
  if (iface !== DEVICE_INTERFACE || !changed || typeof changed !== 'object') return undefined;
  const values: Record<string, unknown> = {};
  for (const key of VERDICT_PROPERTIES) {
    const v: unknown = (changed as Record<string, unknown>)[key];
    if (!(v instanceof dbus.Variant)) return undefined;
    values[key] = v.value;
  }
  return values;
}

const perBus = new WeakMap<dbus.MessageBus, DeviceVerdicts>();

/** The DeviceVerdicts of a bus connection, made on first use. */
export function deviceVerdicts(bus: dbus.MessageBus): DeviceVerdicts {
  let verdicts = perBus.get(bus);
  if (!verdicts) {
    verdicts = new DeviceVerdicts(bus);
    perBus.set(bus, verdicts);
  }
  return verdicts;
}
