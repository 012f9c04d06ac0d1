import { fromCallback } from 'xstate';
import type { CredentialsEvent, ResponderEvent } from '../../machines/events.ts';
import { followListenAddresses } from '../net/listen-address-follower.ts';
import { linkTimings } from '../tls/link-timings.ts';
import { lazyPart } from '../util/lazy-part.ts';
import { failureReason } from '../tls/tls-failure.ts';
import type { TlsActorDeps } from './tls-client.actor.ts';

/**
 * The responder's code, loaded when the responder first starts (once this BMC is provisioned):
 * node:tls (and OpenSSL's TLS set-up) stays out of the daemon's start, which owns its bus name first.
 */
const loadResponder = lazyPart(() => import('../tls/bmc-responder.ts'));

/**
 * The root machine's `tlsResponder` actor: the BmcResponder on `config.port` while this BMC is
 * provisioned, on the addresses of `interface_id` (or on `listen_addresses` when configured),
 * following them as they come and go. Sends INBOUND_UP / INBOUND_DOWN per link, INBOUND_PEER_LEAF
 * when a peer name presents another client leaf than last time (a renewal), and
 * RESPONDER_FAILED if it cannot listen at all (no credentials, port taken on every address); an
 * address it could not bind while others work is tried again at the next address poll. It renews
 * its TLS context on CREDENTIALS_UPDATED / TRUST_UPDATED from the machine and also on the
 * credential holder's and trust store's own change notifications (coalesced), so a rotation is
 * picked up even if no event is forwarded. Stopping the actor closes every connection.
 */
export function createTlsResponderActor(deps: TlsActorDeps) {
  const timings = linkTimings(deps.config);
  return fromCallback<CredentialsEvent>(({ sendBack, receive }) => {
    const responder = loadResponder().then(
      ({ BmcResponder }) =>
        new BmcResponder({
          port: deps.config.port,
          timings,
          maxConnections: deps.config.max_connections,
          credentials: deps.credentials,
          trust: deps.trustStore,
          log: deps.log,
          onEvent: (event: ResponderEvent) => sendBack(event),
        }),
    );
    // A responder that cannot be loaded or built fails the actor through the follower's first apply.
    responder.catch(() => undefined);
    let stopped = false;
    const closeResponder = () => void responder.then((r) => r.close()).catch(() => undefined);
    const fail = (why: string) => {
      if (stopped) return;
      stopped = true; // the machine stops this actor on RESPONDER_FAILED and starts a new one later
      follower.close();
      const reason = `cannot listen on port ${deps.config.port}: ${why}`;
      deps.log.error(reason, { event: 'RESPONDER_FAILED', reason });
      closeResponder();
      sendBack({ type: 'RESPONDER_FAILED', reason } satisfies ResponderEvent);
    };
    // A responder still loading builds its context from the current credentials and trust anyway.
    receive((event) => void responder.then((r) => r.refreshSecureContext(event.type === 'CREDENTIALS_UPDATED' ? 'credentials updated' : 'trust updated'), () => undefined));
    const follower = followListenAddresses({
      explicit: deps.config.listen_addresses,
      interfaceId: deps.config.interface_id,
      what: 'responder',
      log: deps.log,
      apply: (hosts) => responder.then((r) => r.listen(hosts)),
      onFailure: fail,
    });
    follower.started.catch((err: unknown) => fail(failureReason(err)));
    return () => {
      stopped = true;
      follower.close();
      closeResponder();
    };
  });
}
