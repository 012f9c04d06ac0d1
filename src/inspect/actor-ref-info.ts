import type { ActorRefLike } from 'xstate';

/** The parts of an XState actor the inspector reads; typed loosely because inspection gives `ActorRefLike`. */
interface ActorInternals {
  readonly id?: unknown;
  readonly sessionId?: unknown;
  readonly src?: unknown;
  readonly logic?: unknown;
  readonly _parent?: unknown;
  getSnapshot?: () => unknown;
}

const internals = (ref: ActorRefLike | object): ActorInternals => ref as ActorInternals;

/** The machine an actor runs, when it runs one (promise and callback actors do not). */
export interface ActorMachine {
  readonly id: string;
  /** The machine's config object: what Stately's inspector draws from. */
  readonly config: unknown;
}

export function machineOf(ref: ActorRefLike): ActorMachine | undefined {
  const logic = internals(ref).logic as { id?: unknown; root?: unknown; config?: unknown } | undefined;
  if (!logic || typeof logic !== 'object' || typeof logic.id !== 'string' || !logic.root) return undefined;
  return { id: logic.id, config: logic.config };
}

export function sessionIdOf(ref: ActorRefLike): string {
  const s = internals(ref).sessionId;
  return typeof s === 'string' ? s : '';
}

/** The parent actor, for children; undefined for the root. */
export function parentOf(ref: ActorRefLike): ActorRefLike | undefined {
  const p = internals(ref)._parent;
  return p && typeof p === 'object' ? (p as ActorRefLike) : undefined;
}

/** An invocation without an explicit id gets `<index>.<state id>`: not a name anyone chose. */
const GENERATED_INVOKE_ID = /^\d+\./;

/**
 * A readable name for an actor: the machine id for the root (`provisioning`), the child id for
 * spawned/invoked children (`peer:bmc2`, `responder`), the actor's `src` name when its id was
 * generated (`issueCertificates`).
 */
export function actorLabel(ref: ActorRefLike): string {
  const r = internals(ref);
  const id = typeof r.id === 'string' ? r.id : sessionIdOf(ref);
  if (!parentOf(ref)) return machineOf(ref)?.id ?? id;
  if (GENERATED_INVOKE_ID.test(id) && typeof r.src === 'string') return r.src;
  return id;
}

/** The actor's current snapshot (undefined while it is being constructed). */
export function snapshotOf(ref: ActorRefLike): unknown {
  const get = internals(ref).getSnapshot;
  return typeof get === 'function' ? get.call(ref) : undefined;
}
