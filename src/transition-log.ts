import type { InspectionEvent } from 'xstate';
import type { Logger } from './log.ts';

/** Logs every state change of the daemon and its peers, with structured peer/state/event fields. */
export function logTransitions(log: Logger): (ev: InspectionEvent) => void {
  const last = new WeakMap<object, string>();
  return (ev) => {
    if (ev.type !== '@xstate.snapshot') return;
    const snapshot = ev.snapshot as { value?: unknown; context?: { lastError?: { message?: string } } };
    if (snapshot.value === undefined) return; // promise and callback actors have no state value
    const state = JSON.stringify(snapshot.value);
    if (last.get(ev.actorRef) === state) return;
    last.set(ev.actorRef, state);
    const id = (ev.actorRef as { id?: string }).id ?? '';
    const peer = id.startsWith('peer:') ? id.slice('peer:'.length) : undefined;
    const reason = snapshot.context?.lastError?.message;
    log.info(peer ? `peer ${peer} state ${state}` : `state ${state}`, { peer, state, event: ev.event.type, reason });
  };
}
