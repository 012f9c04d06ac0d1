import type { InspectionEvent, Subscription } from 'xstate';

/** The part of an actor system this needs: its inspection stream. */
export interface InspectableSystem {
  inspect(observer: (ev: InspectionEvent) => void): Subscription;
}

/** How often `run` may run: once per microtask, or once per turn of the event loop (after that turn's I/O). */
export interface EachSnapshotOptions {
  /** Also queue one call at once. */
  readonly now?: boolean;
  /**
   * Coalesce to one call per turn of the event loop (setImmediate) rather than per microtask: the
   * replies and writes the turn's work owes go out first, and the snapshots of a burst (a rack
   * building its mesh) make one call.
   */
  readonly perTurn?: boolean;
}

/**
 * Runs `run` once after the snapshots of any actor of `system` change, coalesced (see
 * EachSnapshotOptions). Returns the function that stops it; a call still queued then does nothing.
 */
export function eachSnapshot(system: InspectableSystem, run: () => void, opts: EachSnapshotOptions = {}): () => void {
  let queued = false;
  let stopped = false;
  let immediate: NodeJS.Immediate | undefined;
  const fire = () => {
    queued = false;
    immediate = undefined;
    if (!stopped) run();
  };
  const queue = () => {
    if (queued) return;
    queued = true;
    if (opts.perTurn) immediate = setImmediate(fire);
    else queueMicrotask(fire);
  };
  const subscription = system.inspect((ev) => {
    if (ev.type === '@xstate.snapshot') queue();
  });
  if (opts.now) queue();
  return () => {
    stopped = true;
    subscription.unsubscribe();
    if (immediate) clearImmediate(immediate);
  };
}
