import type { InspectionEvent } from 'xstate';
import { actorLabel, machineOf, parentOf, sessionIdOf, snapshotOf } from './actor-ref-info.ts';
import { sanitise, type SafeJson } from './sanitise.ts';

/**
 * The protocol version this stream speaks: the message shapes of `@statelyai/inspect` 0.7's
 * `createWebSocketInspector` (`@xstate.actor`, `@xstate.event`, `@xstate.snapshot` JSON objects).
 */
export const STATELY_PROTOCOL_VERSION = '0.7.2';

/** One message of the Stately WebSocket inspection stream; every payload is sanitised. */
export type StatelyMessage =
  | {
      readonly type: '@xstate.actor';
      readonly name: string;
      readonly sessionId: string;
      readonly parentId: string | undefined;
      readonly rootId: string;
      /** The machine config as a JSON string (what Stately draws), or `{"id": name}` for other actors. */
      readonly definition: string;
      readonly snapshot: SafeJson;
      readonly createdAt: string;
      readonly id: null;
      readonly _version: string;
    }
  | {
      readonly type: '@xstate.event';
      readonly event: SafeJson;
      readonly sourceId: string | undefined;
      readonly sessionId: string;
      readonly rootId: string;
      readonly createdAt: string;
      readonly id: null;
      readonly _version: string;
    }
  | {
      readonly type: '@xstate.snapshot';
      readonly event: SafeJson;
      readonly snapshot: SafeJson;
      readonly sessionId: string;
      readonly rootId: string;
      readonly createdAt: string;
      readonly id: null;
      readonly _version: string;
    };

/** A snapshot reduced to what an inspector shows: value, status, context, output/error; all sanitised. */
function safeSnapshot(snapshot: unknown): SafeJson {
  if (!snapshot || typeof snapshot !== 'object') return { status: 'active' };
  const s = snapshot as { value?: unknown; status?: unknown; context?: unknown; output?: unknown; error?: unknown };
  const out: { [k: string]: SafeJson } = { status: typeof s.status === 'string' ? s.status : 'active' };
  for (const [k, v] of Object.entries({ value: s.value, context: s.context, output: s.output, error: s.error })) {
    const clean = sanitise(v);
    if (clean !== undefined) out[k] = clean;
  }
  return out;
}

/**
 * Converts an XState inspection event to its Stately message, or undefined for the kinds the
 * protocol does not carry (microsteps, actions). Call it after the actor finished constructing
 * (the forwarder defers), so that an `@xstate.actor` message carries the initial snapshot.
 */
export function toStatelyMessage(ev: InspectionEvent, now: number): StatelyMessage | undefined {
  const common = { sessionId: sessionIdOf(ev.actorRef), rootId: ev.rootId, createdAt: String(now), id: null, _version: STATELY_PROTOCOL_VERSION };
  switch (ev.type) {
    case '@xstate.actor': {
      const machine = machineOf(ev.actorRef);
      const name = actorLabel(ev.actorRef);
      const definition = machine
        ? JSON.stringify(sanitise(machine.config, { depth: 64, arrayItems: 1000, functionsAsType: true }) ?? { id: name })
        : JSON.stringify({ id: name });
      const parent = parentOf(ev.actorRef);
      return {
        type: '@xstate.actor',
        name,
        parentId: parent ? sessionIdOf(parent) : undefined,
        definition,
        snapshot: safeSnapshot(snapshotOf(ev.actorRef)),
        ...common,
      };
    }
    case '@xstate.event':
      return {
        type: '@xstate.event',
        event: sanitise(ev.event) ?? null,
        sourceId: ev.sourceRef ? sessionIdOf(ev.sourceRef) : undefined,
        ...common,
      };
    case '@xstate.snapshot':
      return { type: '@xstate.snapshot', event: sanitise(ev.event) ?? null, snapshot: safeSnapshot(ev.snapshot), ...common };
    default:
      return undefined;
  }
}
