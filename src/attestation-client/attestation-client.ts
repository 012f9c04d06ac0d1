import dbus from 'dbus-next';
import { ATTESTATION_SERVICE, DEVICE_INTERFACE, DEVICES_INTERFACE, REQUESTER_ROOT } from '../attestationd/names.ts';
import { CodedError } from '../util/coded-error.ts';
import { TimeoutError } from '../util/with-timeout.ts';
import { addMatch, callWithTimeout, getAllProperties, nameOwner, signalRule } from './bus-calls.ts';

/** Why attestationd did not vouch for a peer; `code` is stable (for lastError), the message one line. */
export class AttestationError extends CodedError<'ATTESTATION_FAILED' | 'ATTESTATION_TIMEOUT' | 'ATTESTATION_SERVICE_UNAVAILABLE' | 'ATTESTATION_CANCELLED'> {
  override readonly name = 'AttestationError';
}

/** Whom attestationd should attest, and how long to wait for its verdict. */
export interface AttestationCall {
  readonly bus: dbus.MessageBus;
  /** The peer's name: the requester object's id. */
  readonly id: string;
  readonly ip: string;
  readonly spdmPort: number;
  /** The whole call: AddDevice, attest() and the Attested(b) signal. */
  readonly timeoutMs: number;
  /** Deadline of each single bus call. */
  readonly busCallTimeoutMs: number;
  /** Aborted when the statechart gives up (its own timeout, or shutdown). */
  readonly signal?: AbortSignal;
}

/** A peer attestationd vouched for: its provisioning CA, from the signed measurements. */
export interface AttestedPeer {
  readonly caPem: string;
  readonly deviceSubject: string;
}

const oneLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';

/**
 * Asks attestationd to attest a peer over D-Bus (docs/attestation.md, "D-Bus API"): makes or finds
 * the requester object with AddDevice, subscribes to its `Attested(b)`, calls `attest()` and waits
 * for the verdict. Only signals from the current owner of `xyz.openbmc_project.attestation` count
 * (anyone may emit a signal); the verdict's details are read back from that owner's properties.
 */
export async function requestAttestation(call: AttestationCall): Promise<AttestedPeer> {
  const { bus, busCallTimeoutMs: t } = call;
  const deadline = performance.now() + call.timeoutMs;
  const remaining = () => Math.max(1, deadline - performance.now());
  let path: string;
  try {
    const [p] = await callWithTimeout(
      bus,
      {
        destination: ATTESTATION_SERVICE,
        path: REQUESTER_ROOT,
        interface: DEVICES_INTERFACE,
        member: 'AddDevice',
        signature: 'sss',
        body: [call.id, call.ip, String(call.spdmPort)],
      },
      Math.min(t, remaining()),
    );
    if (typeof p !== 'string') throw new Error('AddDevice returned no object path');
    path = p;
  } catch (err) {
    const type = (err as { type?: unknown }).type;
    if (type === 'org.freedesktop.DBus.Error.ServiceUnknown' || type === 'org.freedesktop.DBus.Error.NameHasNoOwner') {
      throw new AttestationError('ATTESTATION_SERVICE_UNAVAILABLE', `the attestation service ${ATTESTATION_SERVICE} is not running`);
    }
    throw new AttestationError('ATTESTATION_FAILED', `asking ${ATTESTATION_SERVICE} to add ${call.id}: ${oneLine(err)}`);
  }

  const rule = signalRule({ sender: ATTESTATION_SERVICE, path, interface: DEVICE_INTERFACE, member: 'Attested' });
  const removeMatch = await addMatch(bus, rule, Math.min(t, remaining()));
  let onMessage: ((msg: dbus.Message) => void) | undefined;
  let onAbort: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const owner = await nameOwner(bus, ATTESTATION_SERVICE, Math.min(t, remaining()));
    if (!owner) throw new AttestationError('ATTESTATION_SERVICE_UNAVAILABLE', `the attestation service ${ATTESTATION_SERVICE} is not running`);
    const verdict = new Promise<boolean>((resolve, reject) => {
      onMessage = (msg) => {
        if (msg.type !== dbus.MessageType.SIGNAL || msg.sender !== owner || msg.path !== path) return;
        if (msg.interface !== DEVICE_INTERFACE || msg.member !== 'Attested') return;
        resolve(msg.body[0] === true);
      };
      bus.on('message', onMessage);
      timer = setTimeout(
        () => reject(new AttestationError('ATTESTATION_TIMEOUT', `no Attested verdict for ${call.id} within ${call.timeoutMs / 1000} s`)),
        remaining(),
      );
      onAbort = () => reject(new AttestationError('ATTESTATION_CANCELLED', `attestation of ${call.id} abandoned`));
      if (call.signal?.aborted) onAbort();
      else call.signal?.addEventListener('abort', onAbort, { once: true });
    });
    verdict.catch(() => undefined); // observed below; never an unhandled rejection
    try {
      await callWithTimeout(bus, { destination: ATTESTATION_SERVICE, path, interface: DEVICE_INTERFACE, member: 'attest' }, Math.min(t, remaining()));
    } catch (err) {
      if (err instanceof TimeoutError) throw new AttestationError('ATTESTATION_TIMEOUT', `attest() on ${path}: ${err.message}`);
      throw new AttestationError('ATTESTATION_FAILED', `attest() on ${path}: ${oneLine(err)}`);
    }
    const ok = await verdict;
    const props = await getAllProperties(bus, { destination: ATTESTATION_SERVICE, path, interface: DEVICE_INTERFACE }, Math.min(t, remaining()));
    const caPem = typeof props['provisioning_ca'] === 'string' ? props['provisioning_ca'] : '';
    if (!ok || props['status'] !== 'Attested' || !caPem) {
      const why = typeof props['last_failure'] === 'string' && props['last_failure'] ? props['last_failure'] : 'attestation failed';
      throw new AttestationError('ATTESTATION_FAILED', why);
    }
    const deviceSubject = typeof props['device_subject'] === 'string' ? props['device_subject'] : '';
    return { caPem, deviceSubject };
  } catch (err) {
    if (err instanceof AttestationError) throw err;
    if (err instanceof TimeoutError) throw new AttestationError('ATTESTATION_TIMEOUT', err.message);
    throw new AttestationError('ATTESTATION_FAILED', oneLine(err));
  } finally {
    clearTimeout(timer);
    if (onMessage) bus.off('message', onMessage);
    if (onAbort) call.signal?.removeEventListener('abort', onAbort);
    await removeMatch();
  }
}
