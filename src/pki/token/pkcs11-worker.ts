/**
 * The PKCS#11 thread: the only code that touches the module, through graphene-pk11. Started by
 * Pkcs11Module (pkcs11-module.ts) as a module worker, one per module file. The graphene Module,
 * its Sessions and Keys live and die here; the daemon names sessions by number and keys by label
 * (pkcs11-worker-protocol.ts). One message is handled at a time and every call is synchronous, so
 * one session never sees two operations at once (tpm2-pkcs11 answers CKR_OPERATION_ACTIVE). A
 * hung call blocks only this thread: the daemon's timeout fires and it abandons the thread.
 */
import { isMainThread } from 'node:worker_threads';
import {
  KeyGenMechanism,
  KeyType,
  MechanismEnum,
  Module,
  ObjectClass,
  type PrivateKey,
  type Session,
  SessionFlag,
  type ITemplate,
  TokenFlag,
  UserType,
} from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { workerPort } from '../../util/worker-port.ts';
import { saveCompileCache } from '../../util/compile-cache.ts';
import { P256_EC_PARAMS } from './ec-p256.ts';
import {
  type FoundKey,
  type Pkcs11Failure,
  type Pkcs11Message,
  type Pkcs11Op,
  type Pkcs11Ready,
  type Pkcs11Reply,
  type Pkcs11Request,
  type Pkcs11Result,
  pkcs11MessageSchema,
  pkcs11WorkerDataSchema,
} from './pkcs11-worker-protocol.ts';
import { errorMessage } from '../../util/error-message.ts';

/** One open session and the CA keys found on it, by label. */
interface OpenSession {
  readonly session: Session;
  readonly keys: Map<string, PrivateKey>;
}

/** The thread's state: the loaded module and its open sessions. */
class Pkcs11Thread {
  readonly #modulePath: string;
  #module: Module | undefined;
  #sessions = new Map<number, OpenSession>();
  #nextSession = 1;

  constructor(modulePath: string) {
    this.#modulePath = modulePath;
  }

  handle(request: Pkcs11Request): Pkcs11Result<Pkcs11Op> {
    switch (request.op) {
      case 'initialize':
        return this.#initialize();
      case 'finalize':
        return this.#finalize();
      case 'openSession':
        return this.#openSession(request.tokenLabel);
      case 'login':
        return this.#login(request.session, request.pin);
      case 'closeSession':
        return this.#closeSession(request.session);
      case 'findKey':
        return this.#findKey(request.session, request.keyLabel);
      case 'generateKey':
        return this.#generateKey(request.session, request.keyLabel, request.id);
      case 'sign':
        return this.#sign(request.session, request.keyLabel, request.digest);
    }
  }

  #initialize(): Pkcs11Result<'initialize'> {
    if (!this.#module) {
      try {
        this.#module = Module.load(this.#modulePath);
      } catch (err) {
        throw new LoadFailure(errorMessage(err));
      }
    }
    // graphene accepts CKR_CRYPTOKI_ALREADY_INITIALIZED: a thread abandoned after a timeout may
    // have left the module initialised in this process.
    this.#module.initialize();
    return null;
  }

  #finalize(): Pkcs11Result<'finalize'> {
    this.#sessions.clear();
    this.#module?.finalize();
    return null;
  }

  #openSession(tokenLabel: string): Pkcs11Result<'openSession'> {
    const slots = this.#loaded().getSlots(true);
    const labels: string[] = [];
    for (let i = 0; i < slots.length; i++) {
      const slot = slots.items(i);
      const token = slot.getToken();
      const label = token.label.trimEnd();
      if (label) labels.push(label);
      if (label !== tokenLabel) continue;
      if (token.flags & TokenFlag.USER_PIN_LOCKED) return { kind: 'pinLocked' };
      const session = slot.open(SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION);
      const id = this.#nextSession++;
      this.#sessions.set(id, { session, keys: new Map() });
      return { kind: 'opened', session: id };
    }
    return { kind: 'noToken', labels };
  }

  #login(id: number, pin: string): Pkcs11Result<'login'> {
    try {
      this.#session(id).session.login(pin, UserType.USER);
    } catch (err) {
      if (!(err instanceof pkcs11js.Pkcs11Error && err.code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) throw err;
    }
    return null;
  }

  #closeSession(id: number): Pkcs11Result<'closeSession'> {
    const open = this.#sessions.get(id);
    this.#sessions.delete(id);
    open?.session.close();
    return null;
  }

  #findKey(id: number, keyLabel: string): Pkcs11Result<'findKey'> {
    const open = this.#session(id);
    open.keys.delete(keyLabel);
    const found = open.session.find({ class: ObjectClass.PRIVATE_KEY, label: keyLabel });
    if (found.length === 0) return { matches: 0, key: null };
    const key = found.items(0).toType<PrivateKey>();
    const a: ITemplate = key.getAttribute({
      label: null,
      id: null,
      token: null,
      private: null,
      sensitive: null,
      extractable: null,
      alwaysSensitive: null,
      neverExtractable: null,
      sign: null,
    });
    const keyId = bytesOf(a.id);
    // The public half: the object sharing the private key's CKA_ID, or its label when it has no id.
    const publicTemplate: ITemplate = keyId.length ? { class: ObjectClass.PUBLIC_KEY, id: Buffer.from(keyId) } : { class: ObjectClass.PUBLIC_KEY, label: keyLabel };
    const publics = open.session.find(publicTemplate);
    let publicKey: FoundKey['publicKey'] = null;
    if (publics.length > 0) {
      const p: ITemplate = publics.items(0).getAttribute({ paramsECDSA: null, pointEC: null });
      publicKey = { ecParams: bytesOf(p.paramsECDSA), ecPoint: bytesOf(p.pointEC) };
    }
    if (found.length === 1) open.keys.set(keyLabel, key);
    return {
      matches: found.length,
      key: {
        label: typeof a.label === 'string' ? a.label : '',
        id: keyId,
        token: a.token === true,
        private: a.private === true,
        sensitive: a.sensitive === true,
        extractable: a.extractable === true,
        alwaysSensitive: a.alwaysSensitive === true,
        neverExtractable: a.neverExtractable === true,
        sign: a.sign === true,
        publicKey,
      },
    };
  }

  #generateKey(id: number, keyLabel: string, keyId: Uint8Array): Pkcs11Result<'generateKey'> {
    const open = this.#session(id);
    const common: ITemplate = { keyType: KeyType.EC, token: true, label: keyLabel, id: Buffer.from(keyId) };
    // No encrypt/decrypt at all: tpm2-pkcs11 rejects EC templates that set them to false. Both
    // halves live on the token (token: true): tpm2-pkcs11 refuses session-only keys.
    const publicTemplate: ITemplate = { ...common, class: ObjectClass.PUBLIC_KEY, private: false, verify: true, paramsEC: Buffer.from(P256_EC_PARAMS) };
    const privateTemplate: ITemplate = {
      ...common,
      class: ObjectClass.PRIVATE_KEY,
      private: true,
      sensitive: true,
      extractable: false,
      sign: true,
    };
    open.session.generateKeyPair(KeyGenMechanism.EC, publicTemplate, privateTemplate);
    open.keys.delete(keyLabel);
    return null;
  }

  #sign(id: number, keyLabel: string, digest: Uint8Array): Pkcs11Result<'sign'> {
    const open = this.#session(id);
    let key = open.keys.get(keyLabel);
    if (!key) {
      const found = open.session.find({ class: ObjectClass.PRIVATE_KEY, label: keyLabel });
      if (found.length !== 1) return { signature: null };
      key = found.items(0).toType<PrivateKey>();
      open.keys.set(keyLabel, key);
    }
    // Plain CKM_ECDSA over the caller's SHA-256 digest: SoftHSM 2.6 has no CKM_ECDSA_SHA256.
    const signature = open.session.createSign(MechanismEnum.ECDSA, key).once(Buffer.from(digest));
    return { signature: new Uint8Array(signature) };
  }

  #loaded(): Module {
    if (!this.#module) throw new Error('the module is not initialised');
    return this.#module;
  }

  #session(id: number): OpenSession {
    const open = this.#sessions.get(id);
    // The daemon's handle outlived a finalize: the same answer a module gives for a stale handle.
    if (!open) throw new pkcs11js.Pkcs11Error('CKR_SESSION_HANDLE_INVALID', pkcs11js.CKR_SESSION_HANDLE_INVALID, '');
    return open;
  }
}

/** The module file could not be loaded. */
class LoadFailure extends Error {}

/** An exact copy (a Buffer from a pool would carry its neighbours across the thread boundary). */
function bytesOf(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? new Uint8Array(v) : new Uint8Array();
}

/** Plain data for the daemon: a PKCS#11 return code by name, a load failure or any other error. */
function failureOf(err: unknown): Pkcs11Failure {
  if (err instanceof pkcs11js.Pkcs11Error) return { kind: 'pkcs11', ckr: err.message, code: err.code, method: err.method };
  if (err instanceof LoadFailure) return { kind: 'load', message: err.message };
  return { kind: 'error', message: errorMessage(err) };
}

/** The message's id when it has one, so that even a malformed request gets its answer. */
function idOf(m: unknown): number {
  const id: unknown = typeof m === 'object' && m !== null ? (m as { id?: unknown }).id : undefined;
  return typeof id === 'number' && Number.isInteger(id) ? id : -1;
}

/** Answers one message; never throws. */
function answer(thread: Pkcs11Thread, m: unknown): Pkcs11Reply {
  const parsed = pkcs11MessageSchema.safeParse(m);
  if (!parsed.success) {
    // Name the fields, never their values: a login request carries the PIN.
    const where = parsed.error.issues.map((i) => i.path.join('.') || '(message)').join(', ');
    return { id: idOf(m), ok: false, failure: { kind: 'protocol', message: `not a PKCS#11 thread request (${where})` } };
  }
  const message: Pkcs11Message = parsed.data;
  try {
    return { id: message.id, ok: true, result: thread.handle(message.request) };
  } catch (err) {
    return { id: message.id, ok: false, failure: failureOf(err) };
  }
}

if (!isMainThread) {
  // Requests arrive as `unknown`: answer() parses each one against the protocol.
  const port = workerPort<unknown, Pkcs11Reply | Pkcs11Ready>();
  const thread = new Pkcs11Thread(pkcs11WorkerDataSchema.parse(port.data).modulePath);
  port.onRequest((m) => port.send(answer(thread, m)));
  port.send({ ready: true });
  // The thread's own code (graphene-pk11, the protocol schemas) goes into the compile cache now, not only at a clean exit.
  saveCompileCache();
}
