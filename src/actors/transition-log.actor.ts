import { fromCallback } from 'xstate';
import type { Logger } from '../log.ts';
import { logTransitions } from '../transition-log.ts';

/** The root machine's `transitionLog` actor: logs every state change of the daemon and its peers (logTransitions) while the daemon runs. */
export function createTransitionLogActor(log: Logger) {
  return fromCallback(({ system }) => {
    const subscription = system.inspect(logTransitions(log));
    return () => subscription.unsubscribe();
  });
}
