import dbus from 'dbus-next';
import type { PrivateBus } from './private-bus.ts';

/** One method call of a flood, as the bus carries it. */
export interface FloodCall {
  readonly destination: string;
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: readonly unknown[];
}

/** What to flood: the calls (made in turn, over and over), and whose signals to count. */
export interface CallFloodOptions {
  readonly bus: PrivateBus;
  readonly calls: readonly FloodCall[];
  /** Signals on objects at or below this path are counted. */
  readonly signalsUnder: string;
  /** Calls in flight at any time (default: one per entry of `calls`). */
  readonly inFlight?: number;
}

/** A running flood; stop() ends it and disconnects its client. */
export interface CallFlood {
  /** How many of its calls were answered so far (replies and D-Bus errors alike). */
  answered(): number;
  /** How many signals (PropertiesChanged, InterfacesAdded, …) under `signalsUnder` it has seen. */
  signals(): number;
  /** Resolves true once `signals()` reached `n`; false if the deadline passed first. */
  waitForSignals(n: number, timeoutMs: number): Promise<boolean>;
  stop(): void;
}

/**
 * Keeps a service busy sending on the bus: a real client makes the given calls over and over (the
 * next one as soon as one is answered), so that the service sends replies and publishes what the
 * calls change without a pause. Made to lose its bus half-way: the client swallows the
 * connection's errors, and nothing waits for a reply beyond stop().
 */
export function floodCalls(o: CallFloodOptions): CallFlood {
  const client = dbus.sessionBus({ busAddress: o.bus.address });
  client.on('error', () => undefined);
  let stopped = false;
  let answered = 0;
  let signals = 0;
  const waiters = new Set<() => void>();
  const under = (path: string) => path === o.signalsUnder || path.startsWith(`${o.signalsUnder}/`);
  client.on('message', (msg: dbus.Message) => {
    if (msg.type !== dbus.MessageType.SIGNAL || !under(msg.path)) return;
    signals += 1;
    for (const w of [...waiters]) w();
  });
  const addMatch = new dbus.Message({
    destination: 'org.freedesktop.DBus',
    path: '/org/freedesktop/DBus',
    interface: 'org.freedesktop.DBus',
    member: 'AddMatch',
    signature: 's',
    body: [`type='signal',path_namespace='${o.signalsUnder}'`],
  });
  void client.call(addMatch).catch(() => undefined);
  let next = 0;
  const callOne = (): void => {
    const spec = o.calls[next++ % o.calls.length];
    if (stopped || !spec) return;
    const done = () => {
      answered += 1;
      setImmediate(callOne);
    };
    client.call(new dbus.Message({ ...spec, body: [...(spec.body ?? [])] })).then(done, done);
  };
  for (let i = 0; i < (o.inFlight ?? o.calls.length); i++) callOne();
  return {
    answered: () => answered,
    signals: () => signals,
    waitForSignals: (n, timeoutMs) =>
      new Promise<boolean>((resolve) => {
        const finish = (ok: boolean) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(ok);
        };
        const check = () => {
          if (signals >= n) finish(true);
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        waiters.add(check);
        check();
      }),
    stop: () => {
      if (stopped) return;
      stopped = true;
      client.disconnect();
    },
  };
}
