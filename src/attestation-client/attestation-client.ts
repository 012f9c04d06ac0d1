import type dbus from 'dbus-next';
import { ATTESTATION_SERVICE, DEVICE_INTERFACE, DEVICES_INTERFACE, REQUESTER_ROOT } from '../attestationd/names.ts';
import { CodedError } from '../util/coded-error.ts';
import { TimeoutError } from '../util/with-timeout.ts';
import { callForReply, getAllProperties, nameOwner } from '../dbus/bus-call.ts';
import { deviceVerdicts, type DeviceVerdict, type PendingVerdict } from './device-verdicts.ts';
import { errorFirstLine } from '../util/error-message.ts';

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

/**
 * Asks attestationd to attest a peer over D-Bus (docs/attestation.md, "D-Bus API"): makes or finds
 * the requester object with AddDevice, waits for its `Attested(b)`, calls `attest()` and waits for
 * the verdict, whose details come with the PropertiesChanged just before it (read with GetAll when
 * they did not): two round trips, plus two AddMatch per bus connection (device-verdicts.ts). Only a signal from the unique name that answered
 * AddDevice counts, the owner of `xyz.openbmc_project.attestation` then (anyone may emit a
 * signal); attest() must be answered by that same name, and the details are read from it.
 */
export async function requestAttestation(call: AttestationCall): Promise<AttestedPeer> {
  const { bus, busCallTimeoutMs: t } = call;
  const deadline = performance.now() + call.timeoutMs;
  const remaining = () => Math.max(1, deadline - performance.now());
  const verdicts = deviceVerdicts(bus);
  // The match rule goes in alongside AddDevice; it is in place before attest() is called.
  const subscribed = verdicts.subscribe(Math.min(t, remaining()));
  subscribed.catch(() => undefined); // observed below
  let path: string;
  let owner: string | undefined;
  try {
    const reply = await callForReply(
      bus,
      {
        destination: ATTESTATION_SERVICE,
        path: REQUESTER_ROOT,
        iface: DEVICES_INTERFACE,
        member: 'AddDevice',
        signature: 'sss',
        body: [call.id, call.ip, String(call.spdmPort)],
      },
      Math.min(t, remaining()),
    );
    const [p] = reply.body;
    if (typeof p !== 'string') throw new Error('AddDevice returned no object path');
    path = p;
    owner = reply.sender;
  } catch (err) {
    const type = (err as { type?: unknown }).type;
    if (type === 'org.freedesktop.DBus.Error.ServiceUnknown' || type === 'org.freedesktop.DBus.Error.NameHasNoOwner') {
      throw new AttestationError('ATTESTATION_SERVICE_UNAVAILABLE', `the attestation service ${ATTESTATION_SERVICE} is not running`);
    }
    throw new AttestationError('ATTESTATION_FAILED', `asking ${ATTESTATION_SERVICE} to add ${call.id}: ${errorFirstLine(err)}`);
  }

  let pending: PendingVerdict | undefined;
  let onAbort: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await subscribed;
    // A reply always names its sender on a bus; asking the bus daemon is only the fallback.
    owner ??= await nameOwner(bus, ATTESTATION_SERVICE, Math.min(t, remaining()));
    if (!owner) throw new AttestationError('ATTESTATION_SERVICE_UNAVAILABLE', `the attestation service ${ATTESTATION_SERVICE} is not running`);
    const waiting = verdicts.wait(path, owner);
    pending = waiting;
    const verdict = new Promise<DeviceVerdict>((resolve, reject) => {
      waiting.verdict.then(resolve, reject);
      timer = setTimeout(
        () => reject(new AttestationError('ATTESTATION_TIMEOUT', `no Attested verdict for ${call.id} within ${call.timeoutMs / 1000} s`)),
        remaining(),
      );
      onAbort = () => reject(new AttestationError('ATTESTATION_CANCELLED', `attestation of ${call.id} abandoned`));
      if (call.signal?.aborted) onAbort();
      else call.signal?.addEventListener('abort', onAbort, { once: true });
    });
    verdict.catch(() => undefined); // observed below; never an unhandled rejection
    let answeredBy: string | undefined;
    try {
      answeredBy = (await callForReply(bus, { destination: ATTESTATION_SERVICE, path, iface: DEVICE_INTERFACE, member: 'attest' }, Math.min(t, remaining()))).sender;
    } catch (err) {
      if (err instanceof TimeoutError) throw new AttestationError('ATTESTATION_TIMEOUT', `attest() on ${path}: ${err.message}`);
      throw new AttestationError('ATTESTATION_FAILED', `attest() on ${path}: ${errorFirstLine(err)}`);
    }
    if (answeredBy !== undefined && answeredBy !== owner) {
      throw new AttestationError('ATTESTATION_FAILED', `${ATTESTATION_SERVICE} changed owner during the attestation of ${call.id} (${owner}, then ${answeredBy})`);
    }
    const { ok, properties } = await verdict;
    const props = properties ?? (await getAllProperties(bus, { destination: owner, path, iface: DEVICE_INTERFACE }, Math.min(t, remaining())));
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
    throw new AttestationError('ATTESTATION_FAILED', errorFirstLine(err));
  } finally {
    clearTimeout(timer);
    pending?.cancel();
    if (onAbort) call.signal?.removeEventListener('abort', onAbort);
  }
}
