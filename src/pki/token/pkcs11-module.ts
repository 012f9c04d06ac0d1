import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../util/module-worker.ts';
import { SerialQueue } from '../../util/serial-queue.ts';
import { TimeoutError, withTimeout } from '../../util/with-timeout.ts';
import { tokenErrorOf } from './pkcs11-token-error.ts';
import {
  type Pkcs11Failure,
  type Pkcs11Message,
  type Pkcs11Op,
  type Pkcs11Request,
  type Pkcs11Result,
  type Pkcs11WorkerData,
  pkcs11ReadySchema,
  pkcs11ReplySchema,
  pkcs11ResultSchemas,
} from './pkcs11-worker-protocol.ts';
import { TokenError } from './token-error.ts';
import { errorMessage } from '../../util/error-message.ts';

/** The PKCS#11 function each request stands for, in error messages and TokenError.operation. */
const OPERATION: Record<Pkcs11Op, string> = {
  initialize: 'C_Initialize',
  finalize: 'C_Finalize',
  openSession: 'C_OpenSession',
  login: 'C_Login',
  closeSession: 'C_CloseSession',
  findKey: 'C_FindObjects',
  generateKey: 'C_GenerateKeyPair',
  sign: 'C_Sign',
};

/**
 * How long a new PKCS#11 thread may take to start listening (loading graphene-pk11; from source,
 * compiling its TypeScript). Not part of any call's token_timeout: no module is touched yet.
 */
const THREAD_START_TIMEOUT_MS = 30_000;

/** The PKCS#11 thread's module (pnpm build makes it dist/pkcs11-worker.js). */
export const PKCS11_WORKER = new URL('./pkcs11-worker.ts', import.meta.url);

/** A PKCS#11 thread and the promise that it listens. */
interface Thread {
  readonly worker: Worker;
  readonly ready: Promise<void>;
}

/** A request waiting for its reply from one thread. */
interface Pending {
  readonly worker: Worker;
  readonly resolve: (result: unknown) => void;
  readonly reject: (failure: Pkcs11Failure) => void;
}

/** A request of kind K: what the typed methods below send. */
type RequestOf<K extends Pkcs11Op> = Extract<Pkcs11Request, { op: K }>;

/**
 * One PKCS#11 module loaded for the whole process (Cryptoki's C_Initialize state is per process),
 * shared by every token that names the same module file. Every call runs on the module's own
 * thread (pkcs11-worker.ts, graphene-pk11), one at a time, under a timeout; a call that times out
 * abandons that thread and the next call starts a fresh one. Sessions are numbers the thread
 * hands out; they are void once `epoch` has moved on.
 */
export class Pkcs11Module {
  static #loaded = new Map<string, Pkcs11Module>();

  /** The shared module for `path`; pair every acquire() with a release(). */
  static acquire(path: string): Pkcs11Module {
    let m = Pkcs11Module.#loaded.get(path);
    if (!m) {
      m = new Pkcs11Module(path);
      Pkcs11Module.#loaded.set(path, m);
    }
    m.#refs++;
    return m;
  }

  readonly path: string;
  #refs = 0;
  #thread: Thread | undefined;
  #initialized = false;
  #epoch = 0;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #queue = new SerialQueue();
  /** Settles when a thread abandoned after a timeout has really ended. */
  #abandoned: Promise<void> | undefined;

  private constructor(path: string) {
    this.path = path;
  }

  /** Bumped whenever the module is re-initialised: sessions from an older epoch are void. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Loads the module and runs C_Initialize if not done yet (an already initialised module is fine). */
  async ensureInitialized(timeoutMs: number): Promise<void> {
    if (this.#initialized) return;
    await this.#request({ op: 'initialize' }, timeoutMs);
    this.#initialized = true;
  }

  /** Finds the token labelled `tokenLabel` and opens a read-write session on it. */
  openSession(req: { tokenLabel: string; timeoutMs: number }): Promise<Pkcs11Result<'openSession'>> {
    return this.#request({ op: 'openSession', tokenLabel: req.tokenLabel }, req.timeoutMs);
  }

  /** Logs the session in as the user (the PIN goes to the PKCS#11 thread only). */
  async login(req: { session: number; pin: string; timeoutMs: number }): Promise<void> {
    await this.#request({ op: 'login', session: req.session, pin: req.pin }, req.timeoutMs);
  }

  async closeSession(req: { session: number; timeoutMs: number }): Promise<void> {
    await this.#request({ op: 'closeSession', session: req.session }, req.timeoutMs);
  }

  /** The private key labelled `keyLabel` (how many carry it, the first one's attributes and public key). */
  findKey(req: { session: number; keyLabel: string; timeoutMs: number }): Promise<Pkcs11Result<'findKey'>> {
    return this.#request({ op: 'findKey', session: req.session, keyLabel: req.keyLabel }, req.timeoutMs);
  }

  /** Generates the CA key pair on the token under `keyLabel` and CKA_ID `id`. */
  async generateKey(req: { session: number; keyLabel: string; id: Uint8Array; timeoutMs: number }): Promise<void> {
    await this.#request({ op: 'generateKey', session: req.session, keyLabel: req.keyLabel, id: req.id }, req.timeoutMs);
  }

  /** ECDSA over a SHA-256 digest with the key labelled `keyLabel`: P1363 r||s, or null when there is no such key. */
  async sign(req: { session: number; keyLabel: string; digest: Uint8Array; timeoutMs: number }): Promise<Uint8Array | null> {
    const r = await this.#request({ op: 'sign', session: req.session, keyLabel: req.keyLabel, digest: req.digest }, req.timeoutMs);
    return r.signature;
  }

  /**
   * Forgets the module's state after the token went away or a call hung: C_Finalize (or, if the
   * thread is stuck, abandons it), so the next ensureInitialized() starts afresh.
   */
  async reset(timeoutMs: number): Promise<void> {
    this.#epoch++;
    if (!this.#initialized) return;
    this.#initialized = false;
    if (this.#thread) await this.#request({ op: 'finalize' }, timeoutMs).catch(() => undefined);
  }

  /**
   * Drops one reference; the last one finalises the module and ends its thread. The object stays
   * registered, so a later acquire() still knows about a thread abandoned inside the module.
   */
  async release(timeoutMs: number): Promise<void> {
    if (--this.#refs > 0) return;
    if (this.#initialized && this.#thread) await this.#request({ op: 'finalize' }, timeoutMs).catch(() => undefined);
    this.#initialized = false;
    this.#epoch++;
    this.#abandonWorker();
  }

  #request<K extends Pkcs11Op>(request: RequestOf<K>, timeoutMs: number): Promise<Pkcs11Result<K>> {
    const operation = OPERATION[request.op];
    return this.#queue.run(async () => {
      await this.#waitForAbandonedCall(operation, timeoutMs);
      const worker = await this.#startedThread(operation);
      const id = this.#nextId++;
      const reply = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { worker, resolve, reject }));
      const message: Pkcs11Message = { id, request };
      worker.postMessage(message);
      let result: unknown;
      try {
        result = await withTimeout(reply, timeoutMs, operation);
      } catch (err) {
        this.#pending.delete(id);
        if (err instanceof TimeoutError) {
          // The native call may never return: abandon this thread. Nothing else may enter the
          // module until it has (finalising under it would crash the process), see #waitForAbandonedCall.
          this.#abandonWorker();
          this.#initialized = false;
          this.#epoch++;
          throw new TokenError('TIMEOUT', `${operation} on ${this.path} did not finish within ${timeoutMs / 1000} s`, { operation });
        }
        throw tokenErrorOf(isFailure(err) ? err : { kind: 'error', message: String(err) }, { modulePath: this.path, operation });
      }
      const parsed = pkcs11ResultSchemas[request.op].safeParse(result);
      if (!parsed.success) throw new TokenError('FAILED', `${operation} on ${this.path}: the PKCS#11 thread answered with an unexpected result`, { operation });
      // The schema picked by request.op is the one for K.
      return parsed.data as Pkcs11Result<K>;
    });
  }

  /** The module's thread, started if there is none, once it listens. */
  async #startedThread(operation: string): Promise<Worker> {
    const thread = this.#ensureThread();
    try {
      await withTimeout(thread.ready, THREAD_START_TIMEOUT_MS, 'starting the PKCS#11 thread');
    } catch (err) {
      if (this.#thread === thread) this.#abandonWorker();
      const why = errorMessage(err);
      throw new TokenError('FAILED', `${operation} on ${this.path} was not attempted: ${why}`, { operation });
    }
    return thread.worker;
  }

  #ensureThread(): Thread {
    if (this.#thread) return this.#thread;
    const workerData: Pkcs11WorkerData = { modulePath: this.path };
    const worker = startModuleWorker({ module: PKCS11_WORKER, workerData });
    worker.unref();
    let listening: () => void = () => undefined;
    let failed: (err: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      listening = resolve;
      failed = reject;
    });
    // Nobody may be waiting for it yet (or any more): a failed start is reported by #startedThread.
    ready.catch(() => undefined);
    worker.on('message', (m: unknown) => {
      if (pkcs11ReadySchema.safeParse(m).success) return listening();
      const parsed = pkcs11ReplySchema.safeParse(m);
      if (!parsed.success) return;
      const reply = parsed.data;
      const p = this.#pending.get(reply.id);
      if (!p) return;
      this.#pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(reply.failure);
    });
    const failAll = (why: string) => {
      failed(new Error(why));
      if (this.#thread?.worker === worker) {
        this.#thread = undefined;
        this.#initialized = false;
        this.#epoch++;
      }
      for (const [id, p] of this.#pending) {
        if (p.worker !== worker) continue;
        this.#pending.delete(id);
        p.reject({ kind: 'error', message: why });
      }
    };
    worker.on('error', (err) => failAll(`PKCS#11 thread failed: ${err.message}`));
    worker.on('exit', (code) => failAll(`PKCS#11 thread exited with status ${code}`));
    this.#thread = { worker, ready };
    return this.#thread;
  }

  /**
   * After a timeout the abandoned thread may still be inside the module. Until it has left (its
   * thread exited), every call waits, up to its own timeout, and then fails with TIMEOUT rather
   * than touch the module concurrently. The module is not finalised afterwards either: the next
   * C_Initialize finds it initialised, which is accepted, and a new session is opened.
   */
  async #waitForAbandonedCall(operation: string, timeoutMs: number): Promise<void> {
    const busy = this.#abandoned;
    if (!busy) return;
    const cleared = await withTimeout(busy, timeoutMs, operation).then(
      () => true,
      () => false,
    );
    if (!cleared) {
      throw new TokenError('TIMEOUT', `${this.path} has still not finished an earlier call that timed out; ${operation} was not attempted`, {
        operation,
      });
    }
  }

  #abandonWorker(): void {
    const w = this.#thread?.worker;
    this.#thread = undefined;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    const gone = exited.then(() => {
      if (this.#abandoned === gone) this.#abandoned = undefined;
    });
    this.#abandoned = gone;
    void w.terminate().catch(() => undefined);
  }
}

function isFailure(v: unknown): v is Pkcs11Failure {
  return typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string';
}
