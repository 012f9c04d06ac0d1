/**
 * Promises an actor leaves running when xstate calls its (synchronous) start or cleanup: a watch
 * still being set up, a close still under way. The daemon awaits them all (settled()) before the
 * step that must come after, e.g. releasing the bus name only once discovery has stopped.
 */
export class Settling {
  readonly #pending = new Set<Promise<void>>();
  #failure: Error | undefined;

  /** Tracks `work`; its failure is the actor's to log, so it is only waited for here. */
  add(work: Promise<unknown>): void {
    const p = work.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.add(p);
    void p.then(() => this.#pending.delete(p));
  }

  /** Tracks `work` that the daemon cannot run without (a port to listen on): its failure makes settled() reject. */
  mustSucceed(work: Promise<unknown>): void {
    this.add(
      work.catch((err: unknown) => {
        this.#failure ??= err instanceof Error ? err : new Error(String(err));
      }),
    );
  }

  /** Resolves once everything added so far (and anything added meanwhile) has settled; rejects with the first failure of mustSucceed(). */
  async settled(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
    if (this.#failure) throw this.#failure;
  }
}
