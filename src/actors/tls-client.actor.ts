import { fromCallback } from 'xstate';
import type { CredentialsEvent, LinkEvent, LinkTarget } from '../../machines/events.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { throttleWarnings } from '../log-throttle.ts';
import type { CredentialHolder } from '../pki/certificate/index.ts';
import type { TrustStore } from '../pki/trust/index.ts';
import { expectedRefusals } from '../tls/expected-refusals.ts';
import { linkTimings } from '../tls/link-timings.ts';
import { failureReason } from '../tls/tls-failure.ts';
import type { TlsLinkClient } from '../tls/tls-link-client.ts';
import { lazyPart } from '../util/lazy-part.ts';

/**
 * The link client's code, loaded on the first dial: node:tls (and OpenSSL's TLS set-up, about 8 ms)
 * stays out of the daemon's start, which owns its bus name before any link is dialled.
 */
const loadLinkClient = lazyPart(() => import('../tls/tls-link-client.ts'));

/** What the peer-link actors (tlsClient, tlsResponder) are built from: the daemon builds them once and provides them to the machines. */
export interface TlsActorDeps {
  readonly config: Config;
  readonly credentials: CredentialHolder;
  readonly trustStore: TrustStore;
  readonly log: Logger;
}

/**
 * The peer machine's `tlsClient` actor: one connection attempt to `input` and, if it comes up, that
 * link's lifetime. Sends LINK_UP, then one of LINK_FAILED / LINK_REJECTED / LINK_DOWN; never retries
 * (the machine re-invokes it). Stopping the actor closes the socket at once.
 * No machine sends it CREDENTIALS_UPDATED / TRUST_UPDATED (they go to the peer machine, which dials
 * again, with a new actor, if its link is in progress or refused); an established link keeps its
 * session, and every new attempt reads the current credentials and trust store. The LINK_REJECTED
 * warnings of all links share one rate limit (src/log-throttle.ts).
 */
export function createTlsClientActor(deps: TlsActorDeps) {
  const timings = linkTimings(deps.config);
  // One budget for every link's refusals: impostors at many addresses cannot flood the journal either.
  const refusals = throttleWarnings({ log: deps.log });
  // Expected refusals (the peer has not attested us yet, or we have not attested it): info once per peer and kind.
  const expected = expectedRefusals(deps.log);
  return fromCallback<CredentialsEvent, LinkTarget>(({ input, sendBack, receive }) => {
    let client: TlsLinkClient | undefined;
    let stopped = false;
    const dial = (loaded: { TlsLinkClient: typeof TlsLinkClient }) => {
      if (stopped) return;
      client = new loaded.TlsLinkClient({
        target: input,
        timings,
        credentials: deps.credentials,
        trust: deps.trustStore,
        log: deps.log,
        refusals,
        expected,
        onEvent: (event: LinkEvent) => sendBack(event),
      });
      client.start();
    };
    receive(() => undefined);
    // Invoked inside a machine's transition, which may run within a D-Bus call (ProvisionPeer) or a
    // burst of trust changes: the dial (its TLS context, the connect) starts on a later turn of the
    // event loop, after what this turn owes its callers.
    const starting = setImmediate(() => {
      loadLinkClient()
        .then(dial)
        .catch((err: unknown) => {
          if (!stopped) sendBack({ type: 'LINK_FAILED', reason: `cannot start the TLS link client: ${failureReason(err)}` } satisfies LinkEvent);
        });
    });
    return () => {
      stopped = true;
      clearImmediate(starting);
      client?.close();
    };
  });
}
