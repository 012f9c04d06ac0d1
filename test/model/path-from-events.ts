import type { AnyActorLogic, EventFromLogic, InputFrom } from 'xstate';
import { getPathsFromEvents, type StatePath, type TraversalOptions } from 'xstate/graph';

type SnapshotOf<L extends AnyActorLogic> = ReturnType<L['transition']>;

/**
 * xstate/graph's getPathsFromEvents, typed like its getShortestPaths (its own signature rejects a
 * machine that emits events), and failing with the events when they are no path of the graph.
 */
export function pathFromEvents<L extends AnyActorLogic>(
  logic: L,
  events: ReadonlyArray<{ type: string }>,
  options: TraversalOptions<SnapshotOf<L>, EventFromLogic<L>, InputFrom<L>>,
): StatePath<SnapshotOf<L>, EventFromLogic<L>> {
  let paths: Array<StatePath<SnapshotOf<L>, EventFromLogic<L>>>;
  try {
    paths = getPathsFromEvents(logic, events as Array<EventFromLogic<L>>, options);
  } catch (err) {
    throw new Error(`no model path for ${events.map((e) => e.type).join(' > ')}: ${String(err)}`);
  }
  const [path] = paths;
  if (!path) throw new Error(`no model path for ${events.map((e) => e.type).join(' > ')}`);
  return path;
}
