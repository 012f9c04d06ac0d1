import { fromCallback } from 'xstate';
import { selectPeerViews } from '../../machines/peer-projection.ts';
import type { ProvisioningActor } from '../../machines/provisioning.machine.ts';
import type { Logger } from '../log.ts';
import { eachSnapshot } from './each-snapshot.ts';
import { attestationRecords } from '../state/attestation-history.ts';
import type { StateStore } from '../state/state-store.ts';
import { errorMessage } from '../util/error-message.ts';
import { RetryTimer } from '../util/retry-timer.ts';

/** After a failed write the state is written again after 1 s, then after twice the last wait, up to 60 s. */
const STATE_RETRY = { firstMs: 1000, maxMs: 60_000 };

/** What the actor reads and writes; the daemon actor is a getter, as it exists only once the machine is provided. */
export interface PersistAttestationsDeps {
  readonly stateStore: Pick<StateStore, 'update'>;
  readonly log: Logger;
  readonly root: () => ProvisioningActor;
}

/**
 * The root machine's `persistAttestations` actor: after the snapshots change (coalesced to one
 * call per turn of the event loop, as the D-Bus projection), writes each peer's last attestation
 * (time, verdict) to the state file with the flag, atomically, when a record or the flag changed.
 * A failed write (a full or read-only disk) is logged and tried again after 1 s, 2 s, 4 s … at most
 * every 60 s, with whatever the state is then, until one succeeds (`STATE_WRITE_RECOVERED`): the
 * flag of a `ProvisionPeer("self")` whose own write failed reaches the disk that way too. Snapshots
 * that change nothing write nothing, so a full disk costs one attempt per retry, not one per event.
 */
export function createPersistAttestationsActor(deps: PersistAttestationsDeps) {
  return fromCallback(({ system }) => {
    const current = () => {
      const snapshot = deps.root().getSnapshot();
      const peers = attestationRecords(snapshot.context.attestationHistory ?? {}, selectPeerViews(snapshot));
      return { peers, key: JSON.stringify({ provisioned: snapshot.context.provisioned, peers }) };
    };
    /** The flag and records last handed to the store: a snapshot that changes neither writes nothing. */
    let asked: string | undefined;
    const retry = new RetryTimer(STATE_RETRY);
    let stopped = false;
    const write = (peers: ReturnType<typeof current>['peers']) => {
      deps.stateStore.update({ peers }).then(
        () => {
          // A retry still waiting writes what changed since (the snapshots skipped it): let it.
          if (stopped || retry.pending) return;
          if (retry.succeeded()) deps.log.info('the state file is written again after failed writes', { event: 'STATE_WRITE_RECOVERED' });
        },
        (err: unknown) => {
          if (stopped) return;
          // Two writes in flight may fail together: one retry for both, logged once.
          const waitMs = retry.failed(() => {
            const now = current();
            asked = now.key;
            write(now.peers);
          });
          if (waitMs !== undefined) deps.log.error(`cannot persist the peers' attestations: ${errorMessage(err)}; trying again in ${waitMs / 1000} s`, { code: 'STATE_WRITE' });
        },
      );
    };
    const stop = eachSnapshot(
      system,
      () => {
        const now = current();
        if (now.key === asked) return;
        asked = now.key;
        // The last write failed: the retry writes the state as it is by then.
        if (retry.pending) return;
        write(now.peers);
      },
      { perTurn: true },
    );
    return () => {
      stopped = true;
      stop();
      retry.stop();
    };
  });
}
