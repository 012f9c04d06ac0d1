import { isIP } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type dbus from 'dbus-next';
import { fromPromise } from 'xstate';
import type { AttestationTarget } from '../../machines/events.ts';
import { DEFAULT_SPDM_PORT, type Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { BindingReservation, TrustStore } from '../pki/trust/index.ts';
import type { AttestationDone } from '../../machines/reattestation.ts';
import { AttestationError, requestAttestation, type AttestedPeer } from './attestation-client.ts';
import { errorFirstLine } from '../util/error-message.ts';

/** How much later than the peer machine's attestation deadline the client's own one falls. */
const CLIENT_DEADLINE_GRACE_MS = 1000;

/** What the attestPeer actor is built from. */
export interface AttestPeerDeps {
  readonly config: Pick<Config, 'peers' | 'attestation_timeout'>;
  readonly bus: () => dbus.MessageBus | undefined;
  readonly trustStore: Pick<TrustStore, 'reserveBinding'>;
  readonly log: Logger;
  readonly busCallTimeoutMs: number;
}

/** What a successful attestation produced (the peer machine ignores it; the inspector shows it). */
export interface AttestPeerOutput extends AttestationDone {
  readonly caFingerprint: string;
  readonly deviceSubject: string;
}

/**
 * Asks attestationd for a verdict on the peer at its address and SPDM port (fresh nonces each
 * time); rejects with an AttestationError. Shared by the first attestation and re-attestation.
 */
export async function attestAtPeerAddress(
  deps: Pick<AttestPeerDeps, 'config' | 'bus' | 'busCallTimeoutMs'>,
  call: { input: AttestationTarget; signal: AbortSignal; log: Logger; what: string },
): Promise<AttestedPeer> {
  const { input } = call;
  // Started inside a machine's transition, which may run within a D-Bus call (ProvisionPeer): the
  // call is answered first, the attestation's own work (its log line, the bus calls) starts on the
  // next turn of the event loop.
  await nextTurn();
  if (call.signal.aborted) throw new AttestationError('ATTESTATION_CANCELLED', `attestation of ${input.name} abandoned`);
  const known = deps.config.peers.find((p) => p.name === input.name);
  const ip = input.address ?? known?.address;
  if (!ip) throw new AttestationError('ATTESTATION_FAILED', `no address known for ${input.name}: list it under "peers"`);
  if (isIP(ip) === 0) throw new AttestationError('ATTESTATION_FAILED', `the address of ${input.name} ("${ip}") is not an IP address`);
  const bus = deps.bus();
  if (!bus) throw new AttestationError('ATTESTATION_SERVICE_UNAVAILABLE', 'no system bus connection');
  const spdmPort = known?.spdm_port ?? DEFAULT_SPDM_PORT;
  call.log.info(`${call.what} ${input.name} at ${ip} (SPDM port ${spdmPort})`, { event: 'ATTESTATION_REQUESTED' });
  return await requestAttestation({
    bus,
    id: input.name,
    ip,
    spdmPort,
    // The peer machine's attestationTimeout is the deadline a user sees; this one, a little later,
    // is only a net for a call the machine did not stop (both firing at once raced for the reason).
    timeoutMs: Math.round(deps.config.attestation_timeout * 1000) + CLIENT_DEADLINE_GRACE_MS,
    busCallTimeoutMs: deps.busCallTimeoutMs,
    signal: call.signal,
  });
}

/**
 * The peer machine's `attestPeer` actor: asks attestationd (D-Bus) to attest the peer at its address
 * and its SPDM port (`peers[].spdm_port`, default 2323) and, on its verdict, trusts the CA it
 * measured, bound to the peer's name, in one atomic write (the binding is asked for when the
 * attestation starts, so that a revocation of the name meanwhile overtakes it). Any failure throws a one-line
 * AttestationError (the machine keeps it as lastError; it is logged here too) and installs nothing.
 * The statechart's own attestation_timeout bounds it; when it gives up, the abort signal stops the
 * wait and nothing is installed afterwards.
 */
export function createAttestPeerActor(deps: AttestPeerDeps) {
  return fromPromise<unknown, AttestationTarget>(async ({ input, signal }) => {
    const log = deps.log.child({ peer: input.name });
    let reservation: BindingReservation | undefined;
    try {
      // Asked for now: a revocation of the name while the attestation runs overtakes the binding.
      reservation = deps.trustStore.reserveBinding(input.name);
      const attested = await attestAtPeerAddress(deps, { input, signal, log, what: 'attesting' });
      if (signal.aborted) throw new AttestationError('ATTESTATION_CANCELLED', `attestation of ${input.name} abandoned before its CA was trusted`);
      const ca = await reservation.bind(attested.caPem);
      log.info(`attested ${input.name} (${attested.deviceSubject}); trusting its CA ${ca.fingerprint} for ${input.name} only`, {
        event: 'PEER_ATTESTED',
      });
      const output: AttestPeerOutput = { caFingerprint: ca.fingerprint, deviceSubject: attested.deviceSubject, atMs: Date.now() };
      return output;
    } catch (err) {
      const failure =
        err instanceof AttestationError
          ? err
          : new AttestationError('ATTESTATION_FAILED', `trusting the CA of ${input.name}: ${errorFirstLine(err)}`);
      if (failure.code !== 'ATTESTATION_CANCELLED') {
        log.warn(`attestation of ${input.name} failed: ${failure.message}`, { event: 'ATTESTATION_FAILED', code: failure.code, reason: failure.message });
      }
      throw failure;
    } finally {
      reservation?.release();
    }
  });
}
