import { fromCallback } from 'xstate';
import type { CredentialsEvent, ResponderEvent } from '../../machines/events.ts';
import { BmcResponder } from '../tls/bmc-responder.ts';
import { linkTimings } from '../tls/link-timings.ts';
import { failureReason } from '../tls/tls-failure.ts';
import type { TlsActorDeps } from './tls-client.actor.ts';

/**
 * The root machine's `tlsResponder` actor: the BmcResponder on `config.port` while this BMC is
 * provisioned. Sends INBOUND_UP / INBOUND_DOWN per link and RESPONDER_FAILED if it cannot listen.
 * It renews its TLS context on CREDENTIALS_UPDATED / TRUST_UPDATED from the machine and also on the
 * credential holder's and trust store's own change notifications (coalesced), so a rotation is
 * picked up even if no event is forwarded. Stopping the actor closes every connection.
 */
export function createTlsResponderActor(deps: TlsActorDeps) {
  const timings = linkTimings(deps.config);
  return fromCallback<CredentialsEvent>(({ sendBack, receive }) => {
    const responder = new BmcResponder({
      port: deps.config.port,
      timings,
      maxConnections: deps.config.max_connections,
      credentials: deps.credentials,
      trust: deps.trustStore,
      log: deps.log,
      onEvent: (event: ResponderEvent) => sendBack(event),
    });
    let stopped = false;
    receive((event) => responder.refreshSecureContext(event.type === 'CREDENTIALS_UPDATED' ? 'credentials updated' : 'trust updated'));
    responder.listen().catch((err: unknown) => {
      const reason = `cannot listen on port ${deps.config.port}: ${failureReason(err)}`;
      deps.log.error(reason, { event: 'RESPONDER_FAILED', reason });
      void responder.close();
      if (!stopped) sendBack({ type: 'RESPONDER_FAILED', reason } satisfies ResponderEvent);
    });
    return () => {
      stopped = true;
      void responder.close();
    };
  });
}
