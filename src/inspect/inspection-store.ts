import type { ActorRefLike, AnyEventObject, InspectionEvent } from 'xstate';
import { actorLabel, machineOf, parentOf, sessionIdOf, snapshotOf } from './actor-ref-info.ts';
import { activeStateIds, formatStateValue } from './active-states.ts';
import type { ActorView, DaemonSummary, InspectorView, LiveMessage, LogEntry } from './inspector-view.ts';
import { sanitise } from './sanitise.ts';
import type { StatechartGraph } from './statechart-graph.ts';

/** Reads the daemon's D-Bus properties from the root actor's snapshot. */
export type SummaryOf = (rootSnapshot: unknown) => DaemonSummary | undefined;

/** What the store is built with: the charts it can highlight, the log bound, and the clock. */
export interface InspectionStoreOptions {
  /** Graphs by machine id: actors running these machines are tracked and highlighted. */
  readonly graphs: ReadonlyMap<string, StatechartGraph>;
  readonly logLimit: number;
  readonly summaryOf?: SummaryOf;
  readonly now?: () => number;
}

interface TrackedActor {
  readonly ref: ActorRefLike;
  readonly sessionId: string;
  readonly label: string;
  readonly graph: StatechartGraph;
  readonly isRoot: boolean;
}

interface SnapshotLike {
  readonly status?: unknown;
  readonly value?: unknown;
  readonly context?: unknown;
}

const asSnapshot = (s: unknown): SnapshotLike => (s && typeof s === 'object' ? (s as SnapshotLike) : {});

/**
 * Turns XState inspection events into what the page shows: one view per machine actor (active
 * states, sanitised context), a bounded event log with each event's resulting state, and the
 * daemon's D-Bus summary. Changes accumulate until `takeUpdate()`, so bursts go out as one message.
 */
export class InspectionStore {
  private readonly actors = new Map<string, TrackedActor>();
  private readonly log: LogEntry[] = [];
  /** Log entries waiting for their resulting state, by event, with the actor that must settle them. */
  private readonly pending = new WeakMap<AnyEventObject, { readonly entry: LogEntry; readonly target: ActorRefLike }>();
  /** Labels by actor: an actor's label never changes, and every event names two actors. */
  private readonly labels = new WeakMap<ActorRefLike, string>();
  private readonly dirtyActors = new Set<string>();
  private readonly dirtyLog = new Set<LogEntry>();
  private readonly removed = new Set<string>();
  private root: TrackedActor | undefined;
  private lastSummary: string | undefined;
  private seq = 0;
  private readonly now: () => number;

  constructor(private readonly opts: InspectionStoreOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** True when something changed since the last `takeUpdate()`. */
  get dirty(): boolean {
    return this.dirtyActors.size > 0 || this.dirtyLog.size > 0 || this.removed.size > 0;
  }

  /** Feeds one inspection event; never throws on unexpected shapes. */
  observe(ev: InspectionEvent): void {
    switch (ev.type) {
      case '@xstate.actor':
        this.track(ev.actorRef);
        break;
      case '@xstate.event':
        this.record(ev.actorRef, ev.sourceRef, ev.event);
        break;
      case '@xstate.snapshot':
        this.settle(ev.actorRef, ev.event, ev.snapshot);
        break;
      default:
        break;
    }
  }

  private labelOf(ref: ActorRefLike): string {
    let label = this.labels.get(ref);
    if (label === undefined) {
      label = actorLabel(ref);
      this.labels.set(ref, label);
    }
    return label;
  }

  private track(ref: ActorRefLike): void {
    const machine = machineOf(ref);
    const graph = machine && this.opts.graphs.get(machine.id);
    if (!graph) return;
    const sessionId = sessionIdOf(ref);
    const actor: TrackedActor = { ref, sessionId, label: this.labelOf(ref), graph, isRoot: !parentOf(ref) };
    this.actors.set(sessionId, actor);
    if (actor.isRoot) this.root = actor;
    this.removed.delete(sessionId);
    this.dirtyActors.add(sessionId);
  }

  private record(target: ActorRefLike, source: ActorRefLike | undefined, event: AnyEventObject): void {
    const { type, ...rest } = event;
    // The start of an effect (a promise or callback actor, e.g. the daemon's always-running watches)
    // is no event a statechart handles: the log keeps to what the machines receive and send.
    if (type === 'xstate.init' && !machineOf(target)) return;
    const entry: LogEntry = {
      seq: ++this.seq,
      time: this.now(),
      type: String(type),
      source: source ? this.labelOf(source) : 'outside',
      target: this.labelOf(target),
      payload: sanitise(rest) ?? null,
    };
    this.pending.set(event, { entry, target });
    this.log.push(entry);
    if (this.log.length > this.opts.logLimit) {
      const dropped = this.log.shift();
      if (dropped) this.dirtyLog.delete(dropped);
    }
    this.dirtyLog.add(entry);
  }

  private settle(ref: ActorRefLike, event: AnyEventObject, snapshot: unknown): void {
    const snap = asSnapshot(snapshot);
    const pending = this.pending.get(event);
    if (pending && pending.target === ref) {
      const { entry } = pending;
      const value = formatStateValue(snap.value);
      entry.state = value || String(snap.status ?? '');
      this.pending.delete(event);
      // The log holds the newest entries, numbered without gaps: an older one has been dropped.
      if (entry.seq > this.seq - this.log.length) this.dirtyLog.add(entry);
    }
    const sessionId = sessionIdOf(ref);
    const tracked = this.actors.get(sessionId);
    if (!tracked) return;
    if (snap.status === 'stopped' && !tracked.isRoot) {
      this.actors.delete(sessionId);
      this.dirtyActors.delete(sessionId);
      this.removed.add(sessionId);
      return;
    }
    this.dirtyActors.add(sessionId);
    // A peer's change can change the daemon's aggregate peerConnected: re-read the summary.
    if (this.root) this.dirtyActors.add(this.root.sessionId);
  }

  private viewOf(actor: TrackedActor): ActorView {
    const snap = asSnapshot(snapshotOf(actor.ref));
    return {
      sessionId: actor.sessionId,
      label: actor.label,
      machineId: actor.graph.machineId,
      status: typeof snap.status === 'string' ? snap.status : 'starting',
      state: formatStateValue(snap.value),
      activeStateIds: snap.value === undefined ? [] : activeStateIds(actor.graph.root, snap.value),
      context: sanitise(snap.context) ?? null,
      updatedAt: this.now(),
    };
  }

  private summary(): DaemonSummary | undefined {
    if (!this.root || !this.opts.summaryOf) return undefined;
    try {
      return this.opts.summaryOf(snapshotOf(this.root.ref));
    } catch {
      return undefined;
    }
  }

  /** Actors in page order: the daemon first, then the others by label. */
  private orderedActors(): TrackedActor[] {
    return [...this.actors.values()].sort((a, b) => Number(b.isRoot) - Number(a.isRoot) || a.label.localeCompare(b.label));
  }

  /** The whole picture, for a new page or a server-side render. */
  view(): InspectorView {
    const summary = this.summary();
    return {
      actors: this.orderedActors().map((a) => this.viewOf(a)),
      log: [...this.log].reverse(),
      ...(summary ? { summary } : {}),
      logLimit: this.opts.logLimit,
    };
  }

  /** Forgets what changed without building views: nobody is watching (a new page gets `view()`). */
  forgetChanges(): void {
    this.dirtyActors.clear();
    this.dirtyLog.clear();
    this.removed.clear();
    this.lastSummary = undefined;
  }

  /** What changed since the last call (undefined when nothing did), and forgets it. */
  takeUpdate(): LiveMessage | undefined {
    if (!this.dirty) return undefined;
    const actors = this.orderedActors()
      .filter((a) => this.dirtyActors.has(a.sessionId))
      .map((a) => this.viewOf(a));
    const log = [...this.dirtyLog].sort((a, b) => a.seq - b.seq);
    const removed = [...this.removed];
    this.dirtyActors.clear();
    this.dirtyLog.clear();
    this.removed.clear();
    const summary = this.summary();
    const summaryText = JSON.stringify(summary);
    const summaryChanged = summaryText !== this.lastSummary;
    this.lastSummary = summaryText;
    return { kind: 'update', actors, removed, log, ...(summary && summaryChanged ? { summary } : {}) };
  }
}
