import { reattestation } from '../../machines/peer.machine.ts';
import type { Config } from '../config/schema.ts';
import type { TrustStore } from '../pki/trust/index.ts';
import type { AttestPeerDeps } from './attest-peer.actor.ts';
import { createReattestPeerActor } from './reattest-peer.actor.ts';
import { createRevokePeerTrustActor } from './revoke-peer-trust.actor.ts';

/** The peer machine's re-attestation guards and delays from `reattest_interval_s` / `reattest_max_unreachable`, with real jitter. */
export function reattestationOf(config: Pick<Config, 'reattest_interval_s' | 'reattest_max_unreachable'>) {
  return reattestation({ intervalMs: Math.round(config.reattest_interval_s * 1000), maxUnreachable: config.reattest_max_unreachable }, Math.random);
}

/** The peer machine's `reattestPeer` and `revokePeerTrust` actors, built from what attestPeer is built from. */
export function reattestationActors(deps: Omit<AttestPeerDeps, 'trustStore'> & { trustStore: Pick<TrustStore, 'attestedFingerprintsFor' | 'revokeName'> }) {
  const log = deps.log.child({ component: 'attestation' });
  return {
    reattestPeer: createReattestPeerActor({ ...deps, log }),
    revokePeerTrust: createRevokePeerTrustActor({ trustStore: deps.trustStore, log, timeoutMs: deps.busCallTimeoutMs }),
  };
}
