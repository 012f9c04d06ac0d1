import { fromCallback, type AnyActorRef, type InspectionEvent } from 'xstate';
import type { InspectorPart } from '../inspector-part.ts';
import type { Logger } from '../log.ts';
import type { Settling } from '../util/settling.ts';

/** What the inspector actor is built from: the loaded part, where it listens, and the daemon actor it shows. */
export interface InspectorActorDeps {
  readonly part: InspectorPart;
  readonly port: number;
  readonly statelyUrl?: string;
  readonly log: Logger;
  readonly root: () => AnyActorRef;
  /** Listening is start-up work the daemon cannot do without (a port in use fails the start). */
  readonly starting: Settling;
  readonly closing: Settling;
}

/**
 * What the inspector saw before this actor started (the daemon actor was created and its start
 * event sent before its children start): the daemon actor and its start, as its own inspection
 * stream reported them.
 */
function startOf(root: AnyActorRef): InspectionEvent[] {
  const init = { type: 'xstate.init' };
  return [
    { type: '@xstate.actor', actorRef: root, rootId: root.sessionId },
    { type: '@xstate.event', actorRef: root, sourceRef: undefined, event: init, rootId: root.sessionId },
    { type: '@xstate.snapshot', actorRef: root, event: init, snapshot: root.getSnapshot(), rootId: root.sessionId },
  ];
}

/**
 * The root machine's `inspector` actor (inspect_port): serves the live inspector page and feeds it
 * the actor system's inspection stream. Events that come before it listens are kept and handed
 * over once it does. Stopping it closes the page's server.
 */
export function createInspectorActor(deps: InspectorActorDeps) {
  const log = deps.log.child({ component: 'inspector' });
  return fromCallback(({ system }) => {
    const early: InspectionEvent[] = startOf(deps.root());
    let observer: ((ev: InspectionEvent) => void) | undefined;
    const subscription = system.inspect((ev) => (observer ? observer(ev) : early.push(ev)));
    const started = deps.part.startInspector({ port: deps.port, log, ...(deps.statelyUrl ? { statelyUrl: deps.statelyUrl } : {}) });
    deps.starting.mustSucceed(
      started.then((inspector) => {
        for (const ev of early.splice(0)) inspector.observer(ev);
        observer = inspector.observer;
        deps.log.info(`inspector at ${inspector.url}`);
      }),
    );
    return () => {
      subscription.unsubscribe();
      deps.closing.add(started.then((inspector) => inspector.close()));
    };
  });
}
