import type { SafeJson } from './sanitise.ts';

/** One running machine actor (the daemon or a peer) as the page shows it; all data sanitised. */
export interface ActorView {
  /** XState session id: unique per actor, the page's key (`data-actor`). */
  readonly sessionId: string;
  /** `provisioning` for the daemon, the child id (`peer:<name>`) for a peer. */
  readonly label: string;
  /** Id of the machine it runs: which chart it is drawn on. */
  readonly machineId: string;
  /** active, done, error or stopped. */
  readonly status: string;
  /** The state value on one line, e.g. `self.Provisioned.Ready`. */
  readonly state: string;
  /** Full ids of every active state node, ancestors included. */
  readonly activeStateIds: readonly string[];
  readonly context: SafeJson | null;
  readonly updatedAt: number;
}

/** One event delivered to an actor, and the state it led to. */
export interface LogEntry {
  /** Increasing number: the page orders (newest first) and updates rows by it. */
  readonly seq: number;
  /** Epoch milliseconds when the event was sent. */
  readonly time: number;
  readonly type: string;
  /** Label of the sending actor, or `outside` (D-Bus, timers' owner, the daemon's wiring). */
  readonly source: string;
  readonly target: string;
  /** The target's state after processing the event, once known. */
  state?: string;
  /** The event's other fields, sanitised. */
  readonly payload: SafeJson | null;
}

/** The daemon's D-Bus properties, as busctl shows them (enum values without their prefix). */
export interface DaemonSummary {
  readonly provisioned: boolean;
  readonly peerConnected: string;
}

/** Everything the page shows at one moment. */
export interface InspectorView {
  readonly actors: readonly ActorView[];
  /** Newest first, at most the configured number of entries. */
  readonly log: readonly LogEntry[];
  readonly summary?: DaemonSummary;
  readonly logLimit: number;
}

/** What the server pushes to pages over the WebSocket. */
export type LiveMessage =
  | { readonly kind: 'view'; readonly view: InspectorView }
  | {
      readonly kind: 'update';
      readonly actors: readonly ActorView[];
      /** Session ids of actors that stopped: their sections go away. */
      readonly removed: readonly string[];
      /** New or changed log entries (a row gets its resulting state later). */
      readonly log: readonly LogEntry[];
      readonly summary?: DaemonSummary;
    };
