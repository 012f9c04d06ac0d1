import dbus from 'dbus-next';
import { ATTESTATION_SERVICE, DEVICE_INTERFACE, REQUESTER_ROOT } from '../attestationd/names.ts';
import { addMatch, signalRule } from './bus-calls.ts';

/** One attestation waiting for its verdict: the object it asked and the unique name that must send it. */
interface Waiter {
  readonly owner: string;
  readonly resolve: (ok: boolean) => void;
}

/** A verdict being waited for; cancel() stops waiting (the promise then never settles). */
export interface PendingVerdict {
  readonly verdict: Promise<boolean>;
  cancel(): void;
}

/**
 * The `Attested(b)` verdicts of attestationd's requester objects on one bus connection, shared by
 * every attestation on it: one match rule for all requester objects (added on first use, kept for
 * the life of the connection; the bus daemon drops it with the connection) and one message
 * listener that hands each verdict to the attestations waiting on that object. A verdict counts
 * only from the unique name the waiter names (the owner of `xyz.openbmc_project.attestation` that
 * answered its AddDevice): anybody may emit a signal named `Attested`.
 */
export class DeviceVerdicts {
  readonly #bus: dbus.MessageBus;
  #match: Promise<void> | undefined;
  readonly #waiting = new Map<string, Set<Waiter>>();

  constructor(bus: dbus.MessageBus) {
    this.#bus = bus;
    bus.on('message', (msg: dbus.Message) => this.#onMessage(msg));
  }

  /** Resolves once the bus daemon routes the verdicts to us (AddMatch, once per connection; a failed one is tried again on the next call). */
  subscribe(timeoutMs: number): Promise<void> {
    if (!this.#match) {
      const rule = signalRule({ sender: ATTESTATION_SERVICE, interface: DEVICE_INTERFACE, member: 'Attested', path_namespace: REQUESTER_ROOT });
      const match = addMatch(this.#bus, rule, timeoutMs).then(() => undefined);
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
    const verdict = new Promise<boolean>((resolve) => {
      waiter = { owner, resolve };
    });
    const set = this.#waiting.get(path) ?? new Set<Waiter>();
    if (waiter) set.add(waiter);
    this.#waiting.set(path, set);
    return {
      verdict,
      cancel: () => {
        if (waiter) set.delete(waiter);
        if (set.size === 0 && this.#waiting.get(path) === set) this.#waiting.delete(path);
      },
    };
  }

  #onMessage(msg: dbus.Message): void {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.member !== 'Attested' || msg.interface !== DEVICE_INTERFACE) return;
    const set = msg.path === undefined ? undefined : this.#waiting.get(msg.path);
    if (!set) return;
    for (const w of [...set]) {
      if (w.owner !== msg.sender) continue;
      set.delete(w);
      w.resolve(msg.body[0] === true);
    }
    if (set.size === 0 && msg.path !== undefined) this.#waiting.delete(msg.path);
  }
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
