import dbus from 'dbus-next';
import { plainAddress } from '../../machines/attest-back-targets.ts';
import { ATTESTATION_SERVICE, RESPONDER_INTERFACE, RESPONDER_ROOT } from '../attestationd/names.ts';
import { addMatch, getAllProperties, removeMatch, signalRule } from '../dbus/bus-call.ts';
import { watchNameOwner } from '../dbus/name-owner-watch.ts';
import type { Logger } from '../log.ts';
import { errorMessage } from '../util/error-message.ts';

/** What the watch needs, and whom it tells. */
export interface ResponderAttestationsOptions {
  readonly bus: dbus.MessageBus;
  readonly log: Logger;
  readonly busCallTimeoutMs: number;
  /** A requester at `address` completed attesting this BMC (an IPv4-mapped IPv6 address is given as IPv4). */
  readonly onAttested: (address: string) => void;
}

/** Responder objects whose `remote_ip` is remembered at most (one per requesting address: attestationd bounds them too). */
const MAX_REMEMBERED = 1024;

/**
 * Watches attestationd's responder objects (`/xyz/openbmc_project/attestation_responder/tcp/*`)
 * for `Attested(true)`: a peer has just attested this BMC. Signals count only from the current
 * owner of `xyz.openbmc_project.attestation` (followed from NameOwnerChanged, asked of the bus
 * daemon when a sender does not match). The requester's address is that owner's `remote_ip`:
 * taken from the PropertiesChanged it sends for the object right before `Attested`, or read with
 * GetAll when none came. Returns the function that stops watching.
 */
export async function watchResponderAttestations(opts: ResponderAttestationsOptions): Promise<() => Promise<void>> {
  const { bus, log, busCallTimeoutMs: t } = opts;
  const owner = await watchNameOwner({ bus, name: ATTESTATION_SERVICE, timeoutMs: t });
  /** The `remote_ip` last announced per responder object, with the connection that announced it. */
  const announced = new Map<string, { sender: string; ip: string }>();
  const onMessage = (msg: dbus.Message) => {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.sender === undefined || !msg.path?.startsWith(`${RESPONDER_ROOT}/`)) return;
    if (msg.interface === 'org.freedesktop.DBus.Properties' && msg.member === 'PropertiesChanged') {
      const [iface, changed] = msg.body as [unknown, unknown];
      const ip: unknown = changed && typeof changed === 'object' ? (changed as Record<string, unknown>)['remote_ip'] : undefined;
      if (iface !== RESPONDER_INTERFACE || !(ip instanceof dbus.Variant) || typeof ip.value !== 'string') return;
      if (msg.sender !== owner.owner()) return;
      if (!announced.has(msg.path) && announced.size >= MAX_REMEMBERED) return;
      announced.set(msg.path, { sender: msg.sender, ip: ip.value });
      return;
    }
    if (msg.interface !== RESPONDER_INTERFACE || msg.member !== 'Attested') return;
    const path = msg.path;
    const sender = msg.sender;
    const carried = announced.get(path);
    announced.delete(path);
    if (msg.body[0] !== true) return;
    void (async () => {
      if (!(await owner.isOwner(sender))) {
        log.warn(`ignoring an Attested signal on ${path} from ${sender}: not ${ATTESTATION_SERVICE}`, { code: 'FORGED_SIGNAL' });
        return;
      }
      const ip =
        carried?.sender === sender
          ? carried.ip
          : (await getAllProperties(bus, { destination: ATTESTATION_SERVICE, path, iface: RESPONDER_INTERFACE }, t))['remote_ip'];
      if (typeof ip !== 'string' || !ip) return;
      opts.onAttested(plainAddress(ip));
    })().catch((err: unknown) => log.warn(`reading who attested us (${path}): ${errorMessage(err)}`));
  };
  bus.on('message', onMessage);
  const rules = [
    signalRule({ sender: ATTESTATION_SERVICE, interface: RESPONDER_INTERFACE, member: 'Attested', path_namespace: RESPONDER_ROOT }),
    signalRule({ sender: ATTESTATION_SERVICE, interface: 'org.freedesktop.DBus.Properties', member: 'PropertiesChanged', path_namespace: RESPONDER_ROOT, arg0: RESPONDER_INTERFACE }),
  ];
  const added: string[] = [];
  const unwatch = async () => {
    bus.off('message', onMessage);
    await Promise.all([...added.map((rule) => removeMatch(bus, rule, t).catch(() => undefined)), owner.close()]);
  };
  try {
    for (const rule of rules) {
      await addMatch(bus, rule, t);
      added.push(rule);
    }
  } catch (err) {
    await unwatch();
    throw err;
  }
  return unwatch;
}
