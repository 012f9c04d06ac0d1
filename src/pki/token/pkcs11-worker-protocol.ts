import * as z from '../../util/zod.ts';

/**
 * The one definition of what the daemon and its PKCS#11 thread (pkcs11-worker.ts) say to each
 * other. Both sides import it: the thread parses every request with it and refuses anything else;
 * the daemon parses every reply with the result schema of the request it sent. Only plain data
 * crosses: the graphene-pk11 module, sessions and keys stay in the thread, named here by numbers.
 */

/** Bytes: a Uint8Array (a Buffer arrives as one after crossing the thread boundary). */
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected bytes');
const sessionId = z.int().check(z.nonnegative());

/** What the daemon asks the PKCS#11 thread to do (one PKCS#11 step, or a few that belong together). */
export const pkcs11RequestSchema = z.discriminatedUnion('op', [
  /** Loads the module (the thread's workerData names it) and runs C_Initialize; already initialised is fine. */
  z.object({ op: z.literal('initialize') }),
  /** C_Finalize: every session and key of the thread is forgotten. */
  z.object({ op: z.literal('finalize') }),
  /** Finds the token by label and opens a read-write session on it (not logged in yet). */
  z.object({ op: z.literal('openSession'), tokenLabel: z.string() }),
  /** C_Login as the user; "already logged in" (logins are per process) counts as success. */
  z.object({ op: z.literal('login'), session: sessionId, pin: z.string() }),
  z.object({ op: z.literal('closeSession'), session: sessionId }),
  /** Finds the private key labelled `keyLabel` and its public key (by CKA_ID, else by label). */
  z.object({ op: z.literal('findKey'), session: sessionId, keyLabel: z.string() }),
  /** Generates the CA key pair: ECDSA P-256, private key sensitive, never extractable, on the token. */
  z.object({ op: z.literal('generateKey'), session: sessionId, keyLabel: z.string(), id: bytes }),
  /** CKM_ECDSA over a SHA-256 digest with the key found by `keyLabel`. */
  z.object({ op: z.literal('sign'), session: sessionId, keyLabel: z.string(), digest: bytes }),
]);

/** One request to the PKCS#11 thread. */
export type Pkcs11Request = z.infer<typeof pkcs11RequestSchema>;
/** The name of a request. */
export type Pkcs11Op = Pkcs11Request['op'];

/** The CA private key's attributes and its public key's curve and point, as the token reports them. */
const foundKeySchema = z.object({
  label: z.string(),
  id: bytes,
  token: z.boolean(),
  private: z.boolean(),
  sensitive: z.boolean(),
  extractable: z.boolean(),
  alwaysSensitive: z.boolean(),
  neverExtractable: z.boolean(),
  sign: z.boolean(),
  /** CKA_EC_PARAMS and CKA_EC_POINT of the matching public key object; null when there is none. */
  publicKey: z.nullable(z.object({ ecParams: bytes, ecPoint: bytes })),
});

/** What each request answers when it succeeds. */
export const pkcs11ResultSchemas = {
  initialize: z.null(),
  finalize: z.null(),
  openSession: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('opened'), session: sessionId }),
    /** No token with that label; `labels` are the tokens present, for the error message. */
    z.object({ kind: z.literal('noToken'), labels: z.array(z.string()) }),
    /** The token's "user PIN locked" flag is set: no login attempted. */
    z.object({ kind: z.literal('pinLocked') }),
  ]),
  login: z.null(),
  closeSession: z.null(),
  /** `matches` private keys carry the label; `key` describes the first one (null when none). */
  findKey: z.object({ matches: z.int().check(z.nonnegative()), key: z.nullable(foundKeySchema) }),
  generateKey: z.null(),
  /** IEEE P1363 r||s; null when no private key carries the label. */
  sign: z.object({ signature: z.nullable(bytes) }),
} satisfies Record<Pkcs11Op, z.ZodMiniType>;

/** The success value of request `K`. */
export type Pkcs11Result<K extends Pkcs11Op> = z.infer<(typeof pkcs11ResultSchemas)[K]>;
/** A key as findKey reports it. */
export type FoundKey = z.infer<typeof foundKeySchema>;

/** Why a request failed, as plain data. */
export const pkcs11FailureSchema = z.discriminatedUnion('kind', [
  /** The module returned a PKCS#11 error: `ckr` is its name (CKR_PIN_INCORRECT), `method` the function. */
  z.object({ kind: z.literal('pkcs11'), ckr: z.string(), code: z.number(), method: z.string() }),
  /** The module file could not be loaded (the loader's message). */
  z.object({ kind: z.literal('load'), message: z.string() }),
  /** The thread did not understand the request. */
  z.object({ kind: z.literal('protocol'), message: z.string() }),
  /** Anything else the thread ran into. */
  z.object({ kind: z.literal('error'), message: z.string() }),
]);

/** Why a request failed. */
export type Pkcs11Failure = z.infer<typeof pkcs11FailureSchema>;

/** A request on its way to the thread, numbered so that its reply can find it. */
export const pkcs11MessageSchema = z.object({ id: z.int(), request: pkcs11RequestSchema });
/** A request with its number. */
export type Pkcs11Message = z.infer<typeof pkcs11MessageSchema>;

/** The thread's answer to message `id`: the result (checked by the daemon against the request's schema) or a failure. */
export const pkcs11ReplySchema = z.discriminatedUnion('ok', [
  z.object({ id: z.int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.int(), ok: z.literal(false), failure: pkcs11FailureSchema }),
]);
/** One reply from the thread. A message without a usable id is answered with id -1. */
export type Pkcs11Reply = z.infer<typeof pkcs11ReplySchema>;

/**
 * The thread's first message, once it listens: loading graphene-pk11 (and, from source, compiling
 * the thread's TypeScript) takes a while, and that time must not count against a token call.
 */
export const pkcs11ReadySchema = z.object({ ready: z.literal(true) });
/** The thread's "listening" message. */
export type Pkcs11Ready = z.infer<typeof pkcs11ReadySchema>;

/** What the thread is started with. */
export const pkcs11WorkerDataSchema = z.object({ modulePath: z.string() });
/** The thread's workerData: the module it loads. */
export type Pkcs11WorkerData = z.infer<typeof pkcs11WorkerDataSchema>;
