import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { TimeoutError, withTimeout } from '../../util/with-timeout.ts';
import { PKCS11_WORKER_SOURCE } from './pkcs11-worker-source.ts';
import { tokenErrorCodeForCkr } from './pkcs11-return-codes.ts';
import { SerialQueue } from '../../util/serial-queue.ts';
import { TokenError } from './token-error.ts';

/** A PKCS#11 object or session handle as pkcs11js represents it (8 opaque bytes). */
export type Pkcs11Handle = Uint8Array;

/** One attribute of a PKCS#11 template. */
export interface Pkcs11Attribute {
  readonly type: number;
  readonly value?: number | boolean | string | Uint8Array;
}

/** One request to the PKCS#11 thread, with what to call it in errors and how long it may take. */
interface Request {
  readonly op: 'load' | 'call' | 'find' | 'sign';
  readonly params: unknown;
  /** The PKCS#11 function, for the error message and TokenError.operation. */
  readonly operation: string;
  readonly timeoutMs: number;
}

interface WorkerReply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: { readonly name: string; readonly message: string; readonly method: string };
}

const CKR_NAME = /^(CKR_[A-Z0-9_]+)/;

function isReply(m: unknown): m is WorkerReply {
  return typeof m === 'object' && m !== null && typeof (m as { id?: unknown }).id === 'number';
}

/**
 * One PKCS#11 module loaded for the whole process (Cryptoki's C_Initialize state is per process),
 * shared by every token that names the same module file. Every call runs on its own thread, one
 * at a time, under a timeout; a call that times out abandons that thread and the next call starts
 * a fresh one.
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
  #worker: Worker | undefined;
  #initialized = false;
  #epoch = 0;
  #nextId = 1;
  #pending = new Map<number, { worker: Worker; resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #queue = new SerialQueue();
  /** Settles when a thread abandoned after a timeout has really ended. */
  #abandoned: Promise<void> | undefined;

  private constructor(path: string) {
    this.path = path;
  }

  /** Bumped whenever the module is re-initialised: session and object handles from an older epoch are void. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Loads the module and runs C_Initialize if not done yet (an already initialised module is fine). */
  async ensureInitialized(timeoutMs: number): Promise<void> {
    if (this.#initialized) return;
    await this.#request({ op: 'load', params: {}, operation: 'load', timeoutMs });
    try {
      await this.call({ method: 'C_Initialize', args: [], timeoutMs });
    } catch (err) {
      if (!(err instanceof TokenError && err.ckr === 'CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw err;
    }
    this.#initialized = true;
  }

  /** Forwards one pkcs11js call (from the worker's allow-list). */
  call(req: { method: string; args: readonly unknown[]; timeoutMs: number }): Promise<unknown> {
    return this.#request({ op: 'call', params: { method: req.method, args: req.args }, operation: req.method, timeoutMs: req.timeoutMs });
  }

  /** C_FindObjectsInit + C_FindObjects(max) + C_FindObjectsFinal as one step. */
  async find(req: { session: Pkcs11Handle; template: readonly Pkcs11Attribute[]; max: number; timeoutMs: number }): Promise<Pkcs11Handle[]> {
    const r = await this.#request({
      op: 'find',
      params: { session: req.session, template: req.template, max: req.max },
      operation: 'C_FindObjects',
      timeoutMs: req.timeoutMs,
    });
    if (!Array.isArray(r) || !r.every((h) => h instanceof Uint8Array)) throw new TokenError('FAILED', 'C_FindObjects returned no handle list');
    return r;
  }

  /** C_SignInit + C_Sign as one step, so nothing can come between them on the session. */
  async sign(req: { session: Pkcs11Handle; key: Pkcs11Handle; mechanism: number; data: Uint8Array; timeoutMs: number }): Promise<Uint8Array> {
    const r = await this.#request({
      op: 'sign',
      params: { session: req.session, key: req.key, mechanism: { mechanism: req.mechanism }, data: req.data },
      operation: 'C_Sign',
      timeoutMs: req.timeoutMs,
    });
    if (!(r instanceof Uint8Array)) throw new TokenError('FAILED', 'C_Sign returned no signature');
    return r;
  }

  /**
   * Forgets the module's state after the token went away or a call hung: C_Finalize (or, if the
   * thread is stuck, abandons it), so the next ensureInitialized() starts afresh.
   */
  async reset(timeoutMs: number): Promise<void> {
    this.#epoch++;
    if (!this.#initialized) return;
    this.#initialized = false;
    if (this.#worker) {
      await this.call({ method: 'C_Finalize', args: [], timeoutMs }).catch(() => undefined);
    }
  }

  /**
   * Drops one reference; the last one finalises the module and ends its thread. The object stays
   * registered, so a later acquire() still knows about a thread abandoned inside the module.
   */
  async release(timeoutMs: number): Promise<void> {
    if (--this.#refs > 0) return;
    if (this.#initialized && this.#worker) {
      await this.call({ method: 'C_Finalize', args: [], timeoutMs }).catch(() => undefined);
    }
    this.#initialized = false;
    this.#epoch++;
    this.#abandonWorker();
  }

  #request(req: Request): Promise<unknown> {
    return this.#queue.run(async () => {
      await this.#waitForAbandonedCall(req);
      const worker = this.#ensureWorker();
      const id = this.#nextId++;
      const reply = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { worker, resolve, reject }));
      worker.postMessage({ id, op: req.op, params: req.params });
      try {
        return await withTimeout(reply, req.timeoutMs, req.operation);
      } catch (err) {
        this.#pending.delete(id);
        if (err instanceof TimeoutError) {
          // The native call may never return: abandon this thread. Nothing else may enter the
          // module until it has (finalising under it would crash the process), see #waitForAbandonedCall.
          this.#abandonWorker();
          this.#initialized = false;
          this.#epoch++;
          throw new TokenError('TIMEOUT', `${req.operation} on ${this.path} did not finish within ${req.timeoutMs / 1000} s`, {
            operation: req.operation,
          });
        }
        throw this.#tokenError(req, err);
      }
    });
  }

  #tokenError(req: Request, err: unknown): TokenError {
    if (err instanceof TokenError) return err;
    const info = err instanceof WorkerFailure ? err.info : { name: 'Error', message: String(err), method: '' };
    const ckr = CKR_NAME.exec(info.message)?.[1];
    if (ckr) {
      return new TokenError(tokenErrorCodeForCkr(ckr), `${req.operation} failed on ${this.path}: ${ckr}`, {
        ckr,
        operation: req.operation,
      });
    }
    if (req.op === 'load') {
      return new TokenError('MODULE_MISSING', `cannot load PKCS#11 module ${this.path}: ${info.message}`, { operation: 'load' });
    }
    return new TokenError('FAILED', `${req.operation} failed on ${this.path}: ${info.message}`, { operation: req.operation });
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const pkcs11jsPath = createRequire(import.meta.url).resolve('pkcs11js');
    const worker = new Worker(PKCS11_WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { pkcs11jsPath, modulePath: this.path },
    });
    worker.unref();
    worker.on('message', (m: unknown) => {
      if (!isReply(m)) return;
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new WorkerFailure(m.error ?? { name: 'Error', message: 'unknown failure', method: '' }));
    });
    const failAll = (why: string) => {
      if (this.#worker === worker) {
        this.#worker = undefined;
        this.#initialized = false;
        this.#epoch++;
      }
      for (const [id, p] of this.#pending) {
        if (p.worker !== worker) continue;
        this.#pending.delete(id);
        p.reject(new WorkerFailure({ name: 'Error', message: why, method: '' }));
      }
    };
    worker.on('error', (err) => failAll(`PKCS#11 thread failed: ${err.message}`));
    worker.on('exit', (code) => failAll(`PKCS#11 thread exited with status ${code}`));
    this.#worker = worker;
    return worker;
  }

  /**
   * After a timeout the abandoned thread may still be inside the module. Until it has left (its
   * thread exited), every call waits, up to its own timeout, and then fails with TIMEOUT rather
   * than touch the module concurrently. The module is not finalised afterwards either: the next
   * C_Initialize finds it initialised, which is accepted, and a new session is opened.
   */
  async #waitForAbandonedCall(req: Request): Promise<void> {
    const busy = this.#abandoned;
    if (!busy) return;
    const cleared = await withTimeout(busy, req.timeoutMs, req.operation).then(
      () => true,
      () => false,
    );
    if (!cleared) {
      throw new TokenError(
        'TIMEOUT',
        `${this.path} has still not finished an earlier call that timed out; ${req.operation} was not attempted`,
        { operation: req.operation },
      );
    }
  }

  #abandonWorker(): void {
    const w = this.#worker;
    this.#worker = undefined;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    const gone = exited.then(() => {
      if (this.#abandoned === gone) this.#abandoned = undefined;
    });
    this.#abandoned = gone;
    void w.terminate().catch(() => undefined);
  }
}

/** An error the PKCS#11 thread reported, as plain data. */
class WorkerFailure extends Error {
  constructor(readonly info: { readonly name: string; readonly message: string; readonly method: string }) {
    super(info.message);
  }
}
