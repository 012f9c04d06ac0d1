/** Runs async operations one at a time, in call order; a failed operation does not stop the next. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  run<T>(op: () => Promise<T>): Promise<T> {
    this.#pending++;
    const result = this.#tail.then(op, op).finally(() => this.#pending--);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** Operations queued or running. */
  get pending(): number {
    return this.#pending;
  }
}
