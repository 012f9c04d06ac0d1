import { initialTransition, transition, type AnyStateMachine, type EventFromLogic, type InputFrom, type SnapshotFrom } from 'xstate';

/** One step of a replayed path: the event (abstract or real) and the model's snapshot after it. */
export interface StoryStep<M extends AnyStateMachine, E> {
  readonly event: E;
  readonly state: SnapshotFrom<M>;
}

/**
 * A path as the model sees it: the machine stepped event by event with xstate's pure transition().
 * Graph paths are re-derived this way too, because the graph keeps one representative snapshot per
 * serialized state, whose context may come from another route.
 */
export function storyPath<M extends AnyStateMachine, E extends { type: string }>(
  machine: M,
  input: InputFrom<M>,
  events: readonly E[],
): { state: SnapshotFrom<M>; steps: Array<StoryStep<M, E | { type: 'xstate.init' }>> } {
  let [state] = initialTransition(machine, input);
  const steps: Array<StoryStep<M, E | { type: 'xstate.init' }>> = [{ event: { type: 'xstate.init' }, state }];
  for (const event of events) {
    [state] = transition(machine, state, event as unknown as EventFromLogic<M>);
    steps.push({ event, state });
  }
  return { state, steps };
}
