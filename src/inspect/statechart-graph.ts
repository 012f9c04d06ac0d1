import type { AnyStateMachine, AnyStateNode } from 'xstate';

/** How a state behaves, as the picture draws it (parallel regions dashed, initial marked). */
export type ChartStateKind = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** One state of a machine, with what happens inside it, so a picture can be drawn without xstate. */
export interface ChartState {
  /** Full state id, e.g. `provisioning.self.Provisioned.Ready`: what `data-state-id` carries. */
  readonly id: string;
  /** The state's own name, e.g. `Ready`. */
  readonly key: string;
  readonly kind: ChartStateKind;
  /** True for the initial child of a compound parent. */
  readonly initial: boolean;
  /** Names (`src`) of the actors invoked while in this state. */
  readonly invokes: readonly string[];
  /**
   * Names of the actors an action spawns to run as this state's children, as its `meta.spawns`
   * says (xstate cannot see them in the definition): drawn beside the invoked ones.
   */
  readonly spawns: readonly string[];
  /** Transitions that change no state (actions only), as labels such as `INBOUND_UP / inboundUp`. */
  readonly internal: readonly string[];
  readonly children: readonly ChartState[];
}

/** Why a transition fires. */
export type ChartTransitionKind = 'event' | 'after' | 'always' | 'done' | 'error';

/** One arrow of the picture: from a state to a target state, labelled by what fires it. */
export interface ChartTransition {
  /** Stable id: the source state id and the transition's index within it. */
  readonly id: string;
  readonly source: string;
  readonly target: string;
  /** Event name, plus the guard in brackets when there is one: `PROVISION_SELF`, `always [provisioned]`. */
  readonly label: string;
  readonly kind: ChartTransitionKind;
}

/** A state's `meta.spawns` (the names of the actors it spawns), or none. */
function spawnsOf(node: AnyStateNode): string[] {
  const spawns: unknown = (node.meta as { spawns?: unknown } | undefined)?.spawns;
  return Array.isArray(spawns) ? spawns.filter((s): s is string => typeof s === 'string') : [];
}

/** The lines a picture writes inside a state, under its name: what it invokes, spawns, and handles without leaving. */
export function stateDetails(state: ChartState): string[] {
  return [...state.invokes.map((src) => `invoke ${src}`), ...state.spawns.map((src) => `spawn ${src}`), ...state.internal];
}

/** A machine reduced to plain data: the state tree and its transitions. Pure; no DOM, no layout. */
export interface StatechartGraph {
  readonly machineId: string;
  readonly root: ChartState;
  readonly transitions: readonly ChartTransition[];
}

interface TransitionLike {
  readonly target?: readonly AnyStateNode[] | undefined;
  readonly guard?: unknown;
  readonly actions?: readonly unknown[];
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'guard';
  if (typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return guard.type;
  return 'guard';
}

function actionName(action: unknown): string | undefined {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') return action.name || undefined;
  if (action && typeof action === 'object' && 'type' in action && typeof action.type === 'string') return action.type;
  return undefined;
}

/** The `src` of the invocation an `xstate.done.actor.<id>` / `xstate.error.actor.<id>` event belongs to. */
function invokedSrc(node: AnyStateNode, invokeId: string): string {
  const inv = node.invoke.find((i) => i.id === invokeId);
  if (!inv) return invokeId;
  return typeof inv.src === 'string' ? inv.src : invokeId;
}

const AFTER = 'xstate.after.';
const DONE_ACTOR = 'xstate.done.actor.';
const ERROR_ACTOR = 'xstate.error.actor.';
const DONE_STATE = 'xstate.done.state.';

/** A readable name for an event type, and the kind of transition it fires. */
function describeEvent(node: AnyStateNode, eventType: string): { text: string; kind: ChartTransitionKind } {
  if (eventType === '') return { text: 'always', kind: 'always' };
  if (eventType.startsWith(AFTER)) {
    const delayed = node.after.find((a) => a.eventType === eventType);
    const delay = delayed ? delayed.delay : eventType.slice(AFTER.length).split('.')[0];
    return { text: `after ${typeof delay === 'number' ? `${delay}ms` : String(delay)}`, kind: 'after' };
  }
  if (eventType.startsWith(DONE_ACTOR)) {
    return { text: `${invokedSrc(node, eventType.slice(DONE_ACTOR.length))} done`, kind: 'done' };
  }
  if (eventType.startsWith(ERROR_ACTOR)) {
    return { text: `${invokedSrc(node, eventType.slice(ERROR_ACTOR.length))} error`, kind: 'error' };
  }
  if (eventType.startsWith(DONE_STATE)) return { text: 'done', kind: 'done' };
  return { text: eventType, kind: 'event' };
}

function withGuard(text: string, guard: unknown): string {
  const g = guardName(guard);
  return g ? `${text} [${g}]` : text;
}

function internalLabel(text: string, t: TransitionLike): string {
  const actions = (t.actions ?? []).map(actionName).filter((a): a is string => Boolean(a));
  const base = withGuard(text, t.guard);
  return actions.length ? `${base} / ${actions.join(', ')}` : base;
}

function kindOf(node: AnyStateNode): ChartStateKind {
  return node.type;
}

/**
 * Reduces a machine definition to a graph: every state (nested), every transition with a target
 * (one per target), and targetless transitions listed inside their state. Deterministic: the
 * order follows the machine definition.
 */
export function statechartGraph(machine: Pick<AnyStateMachine, 'root' | 'id'>): StatechartGraph {
  const transitions: ChartTransition[] = [];

  const visit = (node: AnyStateNode, initial: boolean): ChartState => {
    const internal: string[] = [];
    let index = 0;
    const add = (eventType: string, t: TransitionLike) => {
      const { text, kind } = describeEvent(node, eventType);
      const targets = t.target ?? [];
      if (targets.length === 0) {
        internal.push(internalLabel(text, t));
        return;
      }
      for (const target of targets) {
        transitions.push({ id: `${node.id}#${index++}`, source: node.id, target: target.id, label: withGuard(text, t.guard), kind });
      }
    };
    for (const [eventType, list] of node.transitions) for (const t of list) add(eventType, t);
    for (const t of node.always ?? []) add('', t);

    const initialIds = new Set((node.initial?.target ?? []).map((n) => n.id));
    const children = Object.values(node.states).map((child) => visit(child, initialIds.has(child.id)));
    return {
      id: node.id,
      key: node.key,
      kind: kindOf(node),
      initial,
      invokes: node.invoke.map((i) => (typeof i.src === 'string' ? i.src : i.id)),
      spawns: spawnsOf(node),
      internal,
      children,
    };
  };

  const root = visit(machine.root, false);
  return { machineId: machine.id, root, transitions };
}

/** Every state of the graph, parents before their children. */
export function allStates(graph: Pick<StatechartGraph, 'root'>): ChartState[] {
  const out: ChartState[] = [];
  const walk = (s: ChartState) => {
    out.push(s);
    for (const c of s.children) walk(c);
  };
  walk(graph.root);
  return out;
}
