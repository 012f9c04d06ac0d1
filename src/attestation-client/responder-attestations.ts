import dbus from 'dbus-next';
import { plainAddress } from '../../machines/attest-back-targets.ts';
import { ATTESTATION_SERVICE, RESPONDER_INTERFACE, RESPONDER_ROOT } from '../attestationd/names.ts';
import type { Logger } from '../log.ts';
import { addMatch, getAllProperties, nameOwner, signalRule } from './bus-calls.ts';

/** What the watch needs, and whom it tells. */
export interface ResponderAttestationsOptions {
  readonly bus: dbus.MessageBus;
  readonly log: Logger;
  readonly busCallTimeoutMs: number;
  /** A requester at `address` completed attesting this BMC (an IPv4-mapped IPv6 address is given as IPv4). */
  readonly onAttested: (address: string) => void;
}

/**
 * Watches attestationd's responder objects (`/xyz/openbmc_project/attestation_responder/tcp/*`)
 * for `Attested(true)`: a peer has just attested this BMC. Signals count only from the current
 * owner of `xyz.openbmc_project.attestation`; the requester's address is read from that owner's
 * `remote_ip` property. Returns the function that stops watching.
 */
export async function watchResponderAttestations(opts: ResponderAttestationsOptions): Promise<() => Promise<void>> {
  const { bus, log, busCallTimeoutMs: t } = opts;
  const rule = signalRule({ sender: ATTESTATION_SERVICE, interface: RESPONDER_INTERFACE, member: 'Attested', path_namespace: RESPONDER_ROOT });
  const removeMatch = await addMatch(bus, rule, t);
  const onMessage = (msg: dbus.Message) => {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.interface !== RESPONDER_INTERFACE || msg.member !== 'Attested') return;
    if (!msg.path.startsWith(`${RESPONDER_ROOT}/`) || msg.body[0] !== true) return;
    void (async () => {
      const owner = await nameOwner(bus, ATTESTATION_SERVICE, t);
      if (!owner || msg.sender !== owner) {
        log.warn(`ignoring an Attested signal on ${msg.path} from ${msg.sender}: not ${ATTESTATION_SERVICE}`, { code: 'FORGED_SIGNAL' });
        return;
      }
      const props = await getAllProperties(bus, { destination: ATTESTATION_SERVICE, path: msg.path, interface: RESPONDER_INTERFACE }, t);
      const ip = props['remote_ip'];
      if (typeof ip !== 'string' || !ip) return;
      opts.onAttested(plainAddress(ip));
    })().catch((err: unknown) => log.warn(`reading who attested us (${msg.path}): ${err instanceof Error ? err.message : String(err)}`));
  };
  bus.on('message', onMessage);
  return async () => {
    bus.off('message', onMessage);
    await removeMatch();
  };
}
