import type { EventEmitter } from 'node:events';
import dbus from 'dbus-next';
import { errorMessage } from '../util/error-message.ts';
import { withTimeout } from '../util/with-timeout.ts';
import { CommonError } from './names.ts';
import { NOT_SERVING } from './provisioning-service.ts';

/** How many calls may wait for the start; any beyond are refused at once, so a flood during the start costs no memory. */
const MAX_HELD_CALLS = 256;
/** dbus-next's MessageFlag.NO_REPLY_EXPECTED: such a call gets no answer, not even an error. */
const NO_REPLY_EXPECTED = 1;

/** Thrown by claimBusName when another connection owns the name: another instance runs. */
export class BusNameTakenError extends Error {}

/**
 * A well-known name owned before the daemon reads or writes anything on disk (it is the lock that
 * says this process is the only instance), while its objects are not exported yet: the method calls
 * that reach this connection meanwhile wait, and are answered by the objects once open() is called,
 * or refused with `Unavailable NOT_SERVING: <why>`.
 */
export interface BusNameClaim {
  /** Dispatches the calls held so far, in order, to the objects now exported; later calls go to them directly. */
  open(): void;
  /** Refuses the calls held so far, and every later one until the connection closes; nothing once open() was called. */
  refuse(why: string): void;
}

/** What claiming a name needs: the connection, the name, the deadline of RequestName, and how long a call may wait for the start. */
export interface BusNameClaimOptions {
  readonly bus: dbus.MessageBus;
  readonly name: string;
  readonly timeoutMs: number;
  /** How long a call waits for open(); then it is refused (the start takes too long, e.g. a hung disk). */
  readonly holdMs: number;
}

interface HeldCall {
  readonly msg: dbus.Message;
  readonly timer: NodeJS.Timeout;
}

/**
 * Owns `name` with DO_NOT_QUEUE (never waiting in the bus daemon's queue: a second instance learns
 * at once that the name is taken), having first put a gate in front of this connection's method
 * calls, so that a client that calls as soon as the name appears (systemd's Type=dbus reports the
 * service ready then) waits for the real answer instead of getting UnknownObject or a property
 * value from before the state file was read. Rejects with BusNameTakenError if another connection
 * owns the name, with a TimeoutError if the bus daemon does not answer in time.
 */
export async function claimBusName(o: BusNameClaimOptions): Promise<BusNameClaim> {
  const { bus } = o;
  // dbus-next has no public way to hand a message back to its dispatch; the connection's 'message'
  // event is that way in (system-bus.ts reads the same private field for the connection's end).
  const connection = (bus as unknown as { _connection?: EventEmitter })._connection;
  if (!connection) throw new Error('dbus-next has no _connection on its MessageBus: the bus name claim cannot hold calls');
  const held: HeldCall[] = [];
  let refusal: string | undefined;
  let opened = false;

  const answerRefused = (msg: dbus.Message, why: string) => {
    if ((msg.flags & NO_REPLY_EXPECTED) !== 0) return;
    // dbus-next's types say newError takes a string; it takes the call it answers.
    const newError = dbus.Message.newError as unknown as (call: dbus.Message, name: string, text: string) => dbus.Message;
    bus.send(newError(msg, CommonError.Unavailable, `${NOT_SERVING}: ${why}`));
  };
  const release = (call: HeldCall) => {
    clearTimeout(call.timer);
    const at = held.indexOf(call);
    if (at >= 0) held.splice(at, 1);
  };
  const gate = (msg: dbus.Message): boolean => {
    if (refusal !== undefined) {
      answerRefused(msg, refusal);
      return true;
    }
    if (held.length >= MAX_HELD_CALLS) {
      answerRefused(msg, `${o.name} is starting; too many calls wait for it, call again`);
      return true;
    }
    const call: HeldCall = {
      msg,
      timer: setTimeout(() => {
        release(call);
        answerRefused(msg, `${o.name} is still starting after ${o.holdMs} ms; call again`);
      }, o.holdMs),
    };
    held.push(call);
    return true;
  };
  const refuse = (why: string) => {
    if (opened) return;
    refusal ??= why;
    for (const call of [...held]) {
      release(call);
      answerRefused(call.msg, why);
    }
  };

  bus.addMethodHandler(gate);
  let reply: number;
  try {
    reply = await withTimeout(bus.requestName(o.name, dbus.NameFlag.DO_NOT_QUEUE), o.timeoutMs, `RequestName ${o.name}`);
  } catch (err) {
    refuse(`the bus name could not be owned: ${errorMessage(err)}`);
    throw err;
  }
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
    const message = `cannot own ${o.name}: another process owns it (reply ${reply})`;
    refuse(`the bus name could not be owned: ${message}`);
    throw new BusNameTakenError(message);
  }
  return {
    open() {
      if (refusal !== undefined || opened) return;
      opened = true;
      bus.removeMethodHandler(gate);
      for (const call of held.splice(0)) {
        clearTimeout(call.timer);
        connection.emit('message', call.msg);
      }
    },
    refuse,
  };
}
