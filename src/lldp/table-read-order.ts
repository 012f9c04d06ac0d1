// The order of the lldp bridge's full-table reads (`lldpcli show neighbors`) against the watch's
// events: pure bookkeeping, the bridge (bridge-main.ts) runs the reads.

/** A read in progress: which watch event it started after. */
export interface TableRead {
  readonly afterEvent: number;
}

/** What to do once a read has ended. */
export interface TableReadOutcome {
  /** Apply its table: no watch event (nor watch restart) came while it ran. */
  readonly apply: boolean;
  /** Start another read at once: one was asked for while this one ran, or this one came too late. */
  readonly again: boolean;
}

/** Consecutive stale reads re-run at once before waiting for the next resync tick. */
export const MAX_STALE_RERUNS = 3;

/**
 * One full read at a time, and none applied over a newer watch event: a table lldpcli read before
 * an event but delivered after it would undo the event (remove a neighbour just added, restore an
 * old value) until the next resync.
 */
export class TableReadOrder {
  private events = 0;
  private running: TableRead | undefined;
  private asked = false;
  private staleRuns = 0;

  /** A watch event was applied, or the watch (re)started: a read in progress is out of date. */
  event(): void {
    this.events += 1;
  }

  /** Starts a read, or undefined when one runs already (it runs again once that one ends). */
  begin(): TableRead | undefined {
    if (this.running) {
      this.asked = true;
      return undefined;
    }
    this.running = { afterEvent: this.events };
    return this.running;
  }

  /** Ends `read` (whether lldpcli succeeded or not) and says whether to apply it and read again. */
  end(read: TableRead): TableReadOutcome {
    if (read !== this.running) throw new Error('TableReadOrder.end: not the read in progress');
    this.running = undefined;
    const stale = read.afterEvent !== this.events;
    this.staleRuns = stale ? this.staleRuns + 1 : 0;
    const again = this.asked || (stale && this.staleRuns <= MAX_STALE_RERUNS);
    this.asked = false;
    return { apply: !stale, again };
  }
}
