import { fromCallback } from 'xstate';
import type { TrustStoreChangedEvent } from '../../machines/events.ts';
import type { TrustStore } from '../pki/trust/index.ts';

/**
 * The root machine's `trustStoreWatch` actor: watches the trust store directory (PEMs placed or
 * deleted by hand, and the store's own writes) and reports each change as TRUST_STORE_CHANGED;
 * the machine decides which names are bound and which links are woken. Stopping it closes the store's watch.
 */
export function createTrustStoreWatchActor(trustStore: TrustStore) {
  return fromCallback(({ sendBack }) => {
    const unwatch = trustStore.onChange((change) =>
      sendBack({
        type: 'TRUST_STORE_CHANGED',
        attestedNames: trustStore.attestedNames(),
        anyNameTrusted: trustStore.vouchesForAnyName(),
        changedNames: change.names,
        placedByHand: change.anyName,
      } satisfies TrustStoreChangedEvent),
    );
    trustStore.watch();
    return () => {
      unwatch();
      trustStore.close();
    };
  });
}
