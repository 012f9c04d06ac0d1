import { SpdmError } from './spdm-error.ts';
import { errorMessage } from '../util/error-message.ts';

/**
 * The one deadline of an attestation: connecting, the spdm-emu greeting, every response and the
 * requester chart as a whole all end when it passes, with SpdmError TIMEOUT. Started once by
 * attest(), so the time spent connecting counts against the same budget as the exchanges.
 */
export class RequesterDeadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;

  constructor(ms: number, what: string) {
    this.#timer = setTimeout(() => this.#controller.abort(new SpdmError('TIMEOUT', `${what} did not finish within ${ms} ms`)), ms);
  }

  /** Aborted (with the TIMEOUT error as its reason) once the deadline has passed. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The TIMEOUT error (naming `step` if given), once the deadline has passed; undefined before. */
  expired(step?: string): SpdmError | undefined {
    if (!this.signal.aborted) return undefined;
    const reason: unknown = this.signal.reason;
    const message = errorMessage(reason);
    return new SpdmError('TIMEOUT', step === undefined ? message : `${step}: ${message}`);
  }

  /** Settles as `op` does, or rejects with the TIMEOUT error (naming `step` if given) when the deadline passes first. */
  race<T>(op: Promise<T>, step?: string, onExpiry?: () => void): Promise<T> {
    const late = this.expired(step);
    if (late) {
      onExpiry?.();
      return Promise.reject(late);
    }
    return new Promise<T>((resolve, reject) => {
      const expire = () => {
        onExpiry?.();
        reject(this.expired(step));
      };
      this.signal.addEventListener('abort', expire, { once: true });
      op.then(resolve, reject).finally(() => this.signal.removeEventListener('abort', expire));
    });
  }

  /** Stops the clock (the attestation is over). */
  clear(): void {
    clearTimeout(this.#timer);
  }
}
