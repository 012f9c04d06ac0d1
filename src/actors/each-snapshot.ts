import type { InspectionEvent, Subscription } from 'xstate';

/** The part of an actor system this needs: its inspection stream. */
export interface InspectableSystem {
  inspect(observer: (ev: InspectionEvent) => void): Subscription;
}

/**
 * Runs `run` once after the snapshots of any actor of `system` change (coalesced to one call per
 * microtask; `now` also queues one at once). Returns the function that stops it; a call still
 * queued then does nothing.
 */
export function eachSnapshot(system: InspectableSystem, run: () => void, opts: { now?: boolean } = {}): () => void {
  let queued = false;
  let stopped = false;
  const queue = () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      if (!stopped) run();
    });
  };
  const subscription = system.inspect((ev) => {
    if (ev.type === '@xstate.snapshot') queue();
  });
  if (opts.now) queue();
  return () => {
    stopped = true;
    subscription.unsubscribe();
  };
}
