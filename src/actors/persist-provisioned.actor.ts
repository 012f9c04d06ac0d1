import { fromPromise } from 'xstate';
import type { Logger } from '../log.ts';
import type { StateStore } from '../state/state-store.ts';
import { errorMessage } from '../util/error-message.ts';

/**
 * The root machine's `persistProvisioned` actor: writes provisioned = true to the state file
 * (settles at once when it is there already). A failed write is logged here, then reported to the
 * machine as the actor's error.
 */
export function createPersistProvisionedActor(deps: { readonly stateStore: StateStore; readonly log: Logger }) {
  return fromPromise<void>(() =>
    deps.stateStore.update({ provisioned: true }).catch((err: unknown) => {
      deps.log.error(`cannot persist state: ${errorMessage(err)}`, { code: 'STATE_WRITE' });
      throw err;
    }),
  );
}
