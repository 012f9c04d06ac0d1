import type { AnyStateMachine, InspectionEvent } from 'xstate';

/** The parts of a state node / transition definition the coverage walk reads (xstate 5 internals). */
interface NodeLike {
  id: string;
  states: Record<string, NodeLike>;
  transitions: Map<string, DefLike[]>;
  always?: DefLike[];
}
interface DefLike {
  source: { id: string };
  eventType: string;
  target?: ReadonlyArray<{ id: string }>;
  guard?: unknown;
}

function guardName(guard: unknown): string {
  if (!guard) return '';
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard && 'type' in guard) return String((guard as { type: unknown }).type);
  return 'fn';
}

/** A stable name for one transition: source, event, guard, targets. */
export function transitionKey(def: DefLike): string {
  const targets = (def.target ?? []).map((t) => t.id).join(',') || '(internal)';
  return `${def.source.id} --${def.eventType || '(always)'}${def.guard ? `[${guardName(def.guard)}]` : ''}--> ${targets}`;
}

/** Every state node id and every transition of a machine, from its definition. */
export function machineInventory(machine: AnyStateMachine): { states: Set<string>; transitions: Set<string> } {
  const states = new Set<string>();
  const transitions = new Set<string>();
  const walk = (node: NodeLike) => {
    states.add(node.id);
    for (const defs of node.transitions.values()) for (const d of defs) transitions.add(transitionKey(d));
    for (const d of node.always ?? []) transitions.add(transitionKey(d));
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root as unknown as NodeLike);
  return { states, transitions };
}

/** Records, from the real actor's inspection stream, which transitions were taken and which states entered. */
export class CoverageRecorder {
  readonly transitions = new Set<string>();
  readonly states = new Set<string>();

  constructor(private readonly rootId: string) {}

  /** Pass as (part of) `createActor(…, { inspect })`; only the actor whose machine id is rootId counts. */
  readonly inspect = (ev: InspectionEvent) => {
    if (ev.type !== '@xstate.microstep') return;
    const snap = ev.snapshot as { machine?: { id?: string }; _nodes?: Array<{ id: string }> };
    if (snap.machine?.id !== this.rootId) return;
    for (const d of ev._transitions as unknown as DefLike[]) {
      this.transitions.add(transitionKey(d));
      // A transient state (left by an eventless transition) is active exactly when that transition is taken.
      this.states.add(d.source.id);
    }
    for (const n of snap._nodes ?? []) this.states.add(n.id);
  };

  /** Notes the states of an initial snapshot (the init microstep is not always reported). */
  noteSnapshot(snapshot: unknown): void {
    const nodes = (snapshot as { _nodes?: Array<{ id: string }> })._nodes ?? [];
    for (const n of nodes) this.states.add(n.id);
  }
}

/** The items of `all` missing from `seen`, sorted, for a readable assertion message. */
export function missing(all: Set<string>, seen: Set<string>): string[] {
  return [...all].filter((x) => !seen.has(x)).sort();
}
