import { fromCallback, fromPromise } from 'xstate';
import type { AttestingBackEvent } from '../../machines/events.ts';

/**
 * The root machine's always-running effects (and its persisting of the provisioned flag) as actors
 * that do nothing: for tests that run the real machine without the world around it. There is no
 * state file: the write of provisioned = true stays pending (and is dropped when the actor stops).
 * There is no bus either: such a machine is started owning its name (`ownsBusName` in its input).
 */
export const quietEffects = {
  busName: fromCallback(() => undefined),
  transitionLog: fromCallback(() => undefined),
  metrics: fromCallback(() => undefined),
  inspector: fromCallback(() => undefined),
  persistProvisioned: fromPromise<void>(() => new Promise<void>(() => undefined)),
  clockWatch: fromCallback(() => undefined),
  trustStoreWatch: fromCallback(() => undefined),
  lldpDiscovery: fromCallback(() => undefined),
  responderAttestations: fromCallback<AttestingBackEvent>(() => undefined),
  dbusProjection: fromCallback(() => undefined),
  persistAttestations: fromCallback(() => undefined),
};
