import type { AnyActorLogic, EventFromLogic, InputFrom } from 'xstate';
import { getAdjacencyMap, type AdjacencyMap, type SerializedEvent, type SerializedSnapshot, type StatePath, type TraversalOptions } from 'xstate/graph';

type SnapshotOf<L extends AnyActorLogic> = ReturnType<L['transition']>;

/**
 * The graph of each traversal options object, built once: xstate/graph's getPathsFromEvents builds
 * the whole adjacency map (every model event from every state) again on each call.
 */
const adjacencies = new WeakMap<object, AdjacencyMap<unknown, { type: string }>>();

/**
 * What xstate/graph's getPathsFromEvents returns (the path the events take through the model's
 * graph, its first step `xstate.init`), typed like its getShortestPaths (its own signature rejects
 * a machine that emits events), on a graph built once per options object, and failing with the
 * events when they are no path of the graph.
 */
export function pathFromEvents<L extends AnyActorLogic>(
  logic: L,
  events: ReadonlyArray<{ type: string }>,
  options: TraversalOptions<SnapshotOf<L>, EventFromLogic<L>, InputFrom<L>>,
): StatePath<SnapshotOf<L>, EventFromLogic<L>> {
  type Snapshot = SnapshotOf<L>;
  type Event = EventFromLogic<L>;
  let graph = adjacencies.get(options) as AdjacencyMap<Snapshot, Event> | undefined;
  if (!graph) {
    graph = getAdjacencyMap(logic, options);
    adjacencies.set(options, graph as AdjacencyMap<unknown, { type: string }>);
  }
  const serializeState = (s: Snapshot) => (options.serializeState ? options.serializeState(s, undefined, undefined) : JSON.stringify(s)) as SerializedSnapshot;
  const serializeEvent = (e: Event) => (options.serializeEvent ? options.serializeEvent(e) : JSON.stringify(e)) as SerializedEvent;
  if (!options.fromState) throw new Error('pathFromEvents: give the start (options.fromState, e.g. from initialTransition with the input)');
  let state: Snapshot = options.fromState;
  const steps: Array<{ state: Snapshot; event: Event }> = [{ state, event: { type: 'xstate.init' } as Event }];
  for (const event of events as ReadonlyArray<Event>) {
    const next = graph[serializeState(state)]?.transitions[serializeEvent(event)]?.state;
    if (!next) throw new Error(`no model path for ${events.map((e) => e.type).join(' > ')}: no ${event.type} from ${serializeState(state)}`);
    steps.push({ state: next, event });
    state = next;
  }
  return { state, steps, weight: steps.length - 1 };
}
