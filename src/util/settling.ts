/**
 * Promises an actor leaves running when xstate calls its (synchronous) start or cleanup: a watch
 * still being set up, a close still under way. The daemon awaits them all (settled()) before the
 * step that must come after, e.g. releasing the bus name only once discovery has stopped.
 */
export class Settling {
  readonly #pending = new Set<Promise<void>>();

  /** Tracks `work`; its failure is the actor's to log, so it is only waited for here. */
  add(work: Promise<unknown>): void {
    const p = work.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.add(p);
    void p.then(() => this.#pending.delete(p));
  }

  /** Resolves once everything added so far (and anything added meanwhile) has settled. */
  async settled(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }
}
