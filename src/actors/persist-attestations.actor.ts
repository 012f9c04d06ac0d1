import { fromCallback } from 'xstate';
import { selectPeerViews } from '../../machines/peer-projection.ts';
import type { ProvisioningActor } from '../../machines/provisioning.machine.ts';
import type { Logger } from '../log.ts';
import { eachSnapshot } from './each-snapshot.ts';
import { attestationRecords } from '../state/attestation-history.ts';
import type { StateStore } from '../state/state-store.ts';
import { errorMessage } from '../util/error-message.ts';

/** What the actor reads and writes; the daemon actor is a getter, as it exists only once the machine is provided. */
export interface PersistAttestationsDeps {
  readonly stateStore: Pick<StateStore, 'update'>;
  readonly log: Logger;
  readonly root: () => ProvisioningActor;
}

/**
 * The root machine's `persistAttestations` actor: after the snapshots change (coalesced to one
 * call per turn of the event loop, as the D-Bus projection), writes each peer's last attestation (time, verdict) to the state file with the flag,
 * atomically; the store writes only when a record changed (a re-attestation, a revocation).
 * A failed write is logged; the next change tries again.
 */
export function createPersistAttestationsActor(deps: PersistAttestationsDeps) {
  return fromCallback(({ system }) =>
    eachSnapshot(system, () => {
      const snapshot = deps.root().getSnapshot();
      const peers = attestationRecords(snapshot.context.attestationHistory ?? {}, selectPeerViews(snapshot));
      deps.stateStore.update({ peers }).catch((err: unknown) => {
        deps.log.error(`cannot persist the peers' attestations: ${errorMessage(err)}`, { code: 'STATE_WRITE' });
      });
    }, { perTurn: true }),
  );
}
