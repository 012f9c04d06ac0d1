import dbus from 'dbus-next';
import { addMatch, nameOwner, removeMatch, signalRule } from './bus-call.ts';

/** The bus daemon's own name: the sender it puts on the signals it emits, which no client can take. */
export const BUS_DAEMON = 'org.freedesktop.DBus';

/** Who owns a well-known name, followed from the bus daemon's NameOwnerChanged. */
export interface NameOwnerWatch {
  /**
   * Whether `sender` (a unique name) owns the name now: from the followed owner when it matches,
   * otherwise asked of the bus daemon (GetNameOwner), so a signal that overtook the bus daemon's
   * NameOwnerChanged is judged on the bus daemon's word, never on a guess.
   */
  isOwner(sender: string | undefined): Promise<boolean>;
  /** The owner as last seen, undefined when nobody owns the name (or it is not known yet). */
  owner(): string | undefined;
  /** Stops following (removes the match rule). */
  close(): Promise<void>;
}

/** What the watch follows, on which connection, with which deadline per bus call. */
export interface NameOwnerWatchOptions {
  readonly bus: dbus.MessageBus;
  readonly name: string;
  readonly timeoutMs: number;
}

/**
 * Follows the owner of `name` so that a signal's sender can be checked against it without a
 * GetNameOwner round trip per signal: one match rule on the bus daemon's NameOwnerChanged for that
 * name, and one GetNameOwner at start. A NameOwnerChanged counts only from the bus daemon itself.
 */
export async function watchNameOwner(opts: NameOwnerWatchOptions): Promise<NameOwnerWatch> {
  const { bus, name, timeoutMs } = opts;
  let owner: string | undefined;
  const onMessage = (msg: dbus.Message) => {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.sender !== BUS_DAEMON) return;
    if (msg.interface !== BUS_DAEMON || msg.member !== 'NameOwnerChanged' || msg.body[0] !== name) return;
    const now: unknown = msg.body[2];
    owner = typeof now === 'string' && now ? now : undefined;
  };
  const rule = signalRule({ sender: BUS_DAEMON, interface: BUS_DAEMON, member: 'NameOwnerChanged', arg0: name });
  bus.on('message', onMessage);
  try {
    await addMatch(bus, rule, timeoutMs);
    owner = await nameOwner(bus, name, timeoutMs);
  } catch (err) {
    bus.off('message', onMessage);
    await removeMatch(bus, rule, timeoutMs).catch(() => undefined);
    throw err;
  }
  return {
    async isOwner(sender) {
      if (sender === undefined) return false;
      if (sender === owner) return true;
      owner = await nameOwner(bus, name, timeoutMs);
      return sender === owner;
    },
    owner: () => owner,
    async close() {
      bus.off('message', onMessage);
      await removeMatch(bus, rule, timeoutMs).catch(() => undefined);
    },
  };
}
