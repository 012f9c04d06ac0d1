import { fromCallback } from 'xstate';
import type { AttestingBackEvent, ResponderAttestedEvent } from '../../machines/events.ts';
import { watchResponderAttestations } from '../attestation-client/responder-attestations.ts';
import type { Settling } from '../util/settling.ts';
import { closeOnBus, type BusActorDeps } from './bus-actor-deps.ts';
import { errorMessage } from '../util/error-message.ts';

/**
 * The root machine's `responderAttestations` actor: watches who attests this BMC through
 * attestationd's responder and sends RESPONDER_ATTESTED; the machine decides whom to attest back
 * and answers ATTESTING_BACK, which is logged here. Setting up the watch is added to `starting`,
 * so the daemon reports itself up only once peers that attest it are attested back.
 */
export function createResponderAttestationsActor(deps: BusActorDeps & { readonly starting: Settling }) {
  const { log } = deps;
  return fromCallback<AttestingBackEvent>(({ sendBack, receive }) => {
    let stopped = false;
    receive((e) =>
      log.info(`attested by ${e.address}${e.names.length ? ` (${e.names.join(', ')})` : ': no static peer or LLDP neighbour there'}`, {
        event: 'RESPONDER_ATTESTED',
      }),
    );
    const unwatch = watchResponderAttestations({
      bus: deps.conn.bus,
      log,
      busCallTimeoutMs: deps.busCallTimeoutMs,
      onAttested: (address) => {
        if (!stopped) sendBack({ type: 'RESPONDER_ATTESTED', address } satisfies ResponderAttestedEvent);
      },
    }).catch((err: unknown) => {
      log.warn(`not watching the attestation responder (peers that attest us are not attested back): ${errorMessage(err)}`);
      return async () => undefined;
    });
    deps.starting.add(unwatch);
    return () => {
      stopped = true;
      closeOnBus(deps, async () => (await unwatch)());
    };
  });
}
