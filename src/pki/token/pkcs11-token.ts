import { createHash, randomBytes } from 'node:crypto';
import pkcs11 from 'pkcs11js';
import type { TokenConfig } from '../../config/schema.ts';
import type { Logger } from '../../log.ts';
import { P256_EC_PARAMS, spkiFromEcPoint } from './ec-p256.ts';
import { readPinFile } from './pin-file.ts';
import { Pkcs11Module, type Pkcs11Attribute, type Pkcs11Handle } from './pkcs11-module.ts';
import { SerialQueue } from '../../util/serial-queue.ts';
import type { CaKeyToken, CaPublicKey } from './ca-key-token.ts';
import { needsReopen, TokenError } from './token-error.ts';

/** What a PKCS#11 token needs: the `token` config, the per-call timeout, a logger. */
export interface Pkcs11TokenOptions {
  readonly token: TokenConfig;
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** The CA private key's security attributes as the token reports them (for tests and operators). */
export interface CaKeyAttributes {
  readonly label: string;
  /** CKA_ID, hex. */
  readonly id: string;
  readonly token: boolean;
  readonly private: boolean;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  readonly alwaysSensitive: boolean;
  readonly neverExtractable: boolean;
  readonly sign: boolean;
}

interface Session {
  readonly handle: Pkcs11Handle;
  readonly epoch: number;
}

interface CaKey {
  readonly privateKey: Pkcs11Handle;
  readonly spki: Uint8Array;
  readonly epoch: number;
}

const bool = (v: Uint8Array | undefined): boolean => v !== undefined && v.length > 0 && v[0] !== 0;

function isAttributeList(v: unknown): v is { type: number; value: Uint8Array }[] {
  return Array.isArray(v) && v.every((a) => typeof a === 'object' && a !== null && (a as { value?: unknown }).value instanceof Uint8Array);
}

function fieldOf(v: unknown, key: string): unknown {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
}

function isHandle(v: unknown): v is Pkcs11Handle {
  return v instanceof Uint8Array;
}

/**
 * The CA key on a PKCS#11 token (tpm2-pkcs11, SoftHSM2, …). The module is loaded on first use, so
 * a missing module or a wrong PIN does not stop the daemon from starting. One session, logged in
 * once, carries every operation, queued one at a time. After TOKEN_GONE or TIMEOUT the module is
 * re-initialised on the next call.
 */
export class Pkcs11Token implements CaKeyToken {
  readonly description: string;
  #opts: Pkcs11TokenOptions;
  #module: Pkcs11Module | undefined;
  #session: Session | undefined;
  #key: CaKey | undefined;
  #queue = new SerialQueue();

  constructor(opts: Pkcs11TokenOptions) {
    this.#opts = opts;
    this.description = `PKCS#11 token "${opts.token.label}" (${opts.token.module}), key "${opts.token.key_label}"`;
  }

  caPublicKey(opts: { readonly create: boolean }): Promise<CaPublicKey> {
    return this.#op(async () => {
      const found = await this.#findKey();
      if (found) return { spki: found.spki, created: false };
      if (!opts.create) {
        throw new TokenError(
          'CA_KEY_MISSING',
          `no CA key labelled "${this.#opts.token.key_label}" on token "${this.#opts.token.label}"; provision this BMC (ProvisionPeer "self") to create one`,
        );
      }
      const generated = await this.#generateKey();
      return { spki: generated.spki, created: true };
    });
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    const digest = new Uint8Array(createHash('sha256').update(data).digest());
    return this.#op(async () => {
      const cached = this.#key;
      const key = cached && cached.epoch === this.#module?.epoch ? cached : await this.#findKey();
      if (!key) throw new TokenError('CA_KEY_MISSING', `the CA key "${this.#opts.token.key_label}" is no longer on token "${this.#opts.token.label}"`);
      const session = await this.#openSession();
      // Hash here and use plain CKM_ECDSA: SoftHSM 2.6 has no CKM_ECDSA_SHA256; every module has CKM_ECDSA.
      const sig = await this.#mod().sign({
        session: session.handle,
        key: key.privateKey,
        mechanism: pkcs11.CKM_ECDSA,
        data: digest,
        timeoutMs: this.#opts.timeoutMs,
      });
      if (sig.length !== 64) throw new TokenError('FAILED', `C_Sign returned ${sig.length} bytes, expected 64 (P-256 r||s)`, { operation: 'C_Sign' });
      return sig;
    });
  }

  /** Reads the CA private key's security attributes back from the token. */
  caKeyAttributes(): Promise<CaKeyAttributes> {
    return this.#op(async () => {
      const key = await this.#findKey();
      if (!key) throw new TokenError('CA_KEY_MISSING', `no CA key labelled "${this.#opts.token.key_label}"`);
      const session = await this.#openSession();
      const types = [
        pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE, pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE,
        pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE, pkcs11.CKA_SIGN,
      ];
      const v = await this.#attributes(session, key.privateKey, types);
      return {
        label: Buffer.from(v.get(pkcs11.CKA_LABEL) ?? []).toString('utf8'),
        id: Buffer.from(v.get(pkcs11.CKA_ID) ?? []).toString('hex'),
        token: bool(v.get(pkcs11.CKA_TOKEN)),
        private: bool(v.get(pkcs11.CKA_PRIVATE)),
        sensitive: bool(v.get(pkcs11.CKA_SENSITIVE)),
        extractable: bool(v.get(pkcs11.CKA_EXTRACTABLE)),
        alwaysSensitive: bool(v.get(pkcs11.CKA_ALWAYS_SENSITIVE)),
        neverExtractable: bool(v.get(pkcs11.CKA_NEVER_EXTRACTABLE)),
        sign: bool(v.get(pkcs11.CKA_SIGN)),
      };
    });
  }

  /** Opens the module, finds the token and logs in (for benchmarks: the cost of a fresh session). */
  open(): Promise<void> {
    return this.#op(async () => {
      await this.#openSession();
    });
  }

  close(): Promise<void> {
    return this.#queue.run(async () => {
      const mod = this.#module;
      this.#module = undefined;
      const session = this.#session;
      this.#session = undefined;
      this.#key = undefined;
      if (!mod) return;
      if (session && session.epoch === mod.epoch) {
        await mod.call({ method: 'C_CloseSession', args: [session.handle], timeoutMs: this.#opts.timeoutMs }).catch(() => undefined);
      }
      await mod.release(this.#opts.timeoutMs);
    });
  }

  /** Queues an operation; on TOKEN_GONE / TIMEOUT drops the session so the next call re-opens. */
  #op<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(async () => {
      try {
        return await fn();
      } catch (err) {
        const tokenErr = err instanceof TokenError ? err : new TokenError('FAILED', String(err));
        if (needsReopen(tokenErr)) {
          this.#session = undefined;
          this.#key = undefined;
          await this.#module?.reset(this.#opts.timeoutMs);
        }
        throw tokenErr;
      }
    });
  }

  #mod(): Pkcs11Module {
    this.#module ??= Pkcs11Module.acquire(this.#opts.token.module);
    return this.#module;
  }

  async #openSession(): Promise<Session> {
    const mod = this.#mod();
    const timeoutMs = this.#opts.timeoutMs;
    await mod.ensureInitialized(timeoutMs);
    if (this.#session && this.#session.epoch === mod.epoch) return this.#session;
    this.#session = undefined;
    const { label, pin_file } = this.#opts.token;
    const slots = await mod.call({ method: 'C_GetSlotList', args: [true], timeoutMs });
    if (!Array.isArray(slots)) throw new TokenError('FAILED', 'C_GetSlotList returned no list', { operation: 'C_GetSlotList' });
    const seen: string[] = [];
    let slot: Pkcs11Handle | undefined;
    let flags = 0;
    for (const s of slots) {
      const info: unknown = await mod.call({ method: 'C_GetTokenInfo', args: [s], timeoutMs });
      const tokenLabel = String(fieldOf(info, 'label') ?? '').trimEnd();
      if (tokenLabel) seen.push(tokenLabel);
      if (tokenLabel === label && isHandle(s)) {
        slot = s;
        flags = Number(fieldOf(info, 'flags') ?? 0);
        break;
      }
    }
    if (!slot) {
      throw new TokenError(
        'LABEL_NOT_FOUND',
        `no token labelled "${label}" in ${this.#opts.token.module} (tokens present: ${seen.length ? seen.map((l) => `"${l}"`).join(', ') : 'none'})`,
      );
    }
    if (flags & pkcs11.CKF_USER_PIN_LOCKED) {
      throw new TokenError('PIN_LOCKED', `the user PIN of token "${label}" is locked`, { ckr: 'CKR_PIN_LOCKED', operation: 'C_GetTokenInfo' });
    }
    // Re-read and re-check the PIN file on every login: its mode may have changed since start.
    const pin = readPinFile(pin_file);
    const handle = await mod.call({ method: 'C_OpenSession', args: [slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION], timeoutMs });
    if (!isHandle(handle)) throw new TokenError('FAILED', 'C_OpenSession returned no handle', { operation: 'C_OpenSession' });
    try {
      await mod.call({ method: 'C_Login', args: [handle, pkcs11.CKU_USER, pin], timeoutMs });
    } catch (err) {
      if (!(err instanceof TokenError && err.ckr === 'CKR_USER_ALREADY_LOGGED_IN')) {
        await mod.call({ method: 'C_CloseSession', args: [handle], timeoutMs }).catch(() => undefined);
        if (err instanceof TokenError && err.code === 'PIN_INCORRECT') {
          throw new TokenError('PIN_INCORRECT', `token "${label}" refused the PIN from ${pin_file}`, { ckr: err.ckr, operation: 'C_Login' });
        }
        throw err;
      }
    }
    this.#session = { handle, epoch: mod.epoch };
    return this.#session;
  }

  async #attributes(session: Session, object: Pkcs11Handle, types: readonly number[]): Promise<Map<number, Uint8Array>> {
    const r = await this.#mod().call({
      method: 'C_GetAttributeValue',
      args: [session.handle, object, types.map((type) => ({ type }))],
      timeoutMs: this.#opts.timeoutMs,
    });
    if (!isAttributeList(r)) throw new TokenError('FAILED', 'C_GetAttributeValue returned no attributes', { operation: 'C_GetAttributeValue' });
    return new Map(r.map((a) => [a.type, a.value]));
  }

  /** Finds the CA key pair by label (the private key) and CKA_ID (its public key). */
  async #findKey(): Promise<CaKey | undefined> {
    const mod = this.#mod();
    const session = await this.#openSession();
    const { key_label: keyLabel, label } = this.#opts.token;
    const timeoutMs = this.#opts.timeoutMs;
    const privs = await mod.find({
      session: session.handle,
      template: [
        { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
        { type: pkcs11.CKA_LABEL, value: keyLabel },
      ],
      max: 2,
      timeoutMs,
    });
    const priv = privs[0];
    if (!priv) return undefined;
    if (privs.length > 1) {
      throw new TokenError('FAILED', `token "${label}" holds several private keys labelled "${keyLabel}"; refusing to guess which is the CA key`);
    }
    const a = await this.#attributes(session, priv, [pkcs11.CKA_ID, pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE]);
    if (!bool(a.get(pkcs11.CKA_SENSITIVE)) || bool(a.get(pkcs11.CKA_EXTRACTABLE))) {
      throw new TokenError('FAILED', `the key "${keyLabel}" on token "${label}" is not sensitive and non-extractable; refusing to use it as the CA key`);
    }
    const id = a.get(pkcs11.CKA_ID) ?? new Uint8Array();
    const pubTemplate: Pkcs11Attribute[] = [{ type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PUBLIC_KEY }];
    pubTemplate.push(id.length ? { type: pkcs11.CKA_ID, value: id } : { type: pkcs11.CKA_LABEL, value: keyLabel });
    const pubs = await mod.find({ session: session.handle, template: pubTemplate, max: 1, timeoutMs });
    const pub = pubs[0];
    if (!pub) throw new TokenError('FAILED', `the CA key "${keyLabel}" on token "${label}" has no public key object`);
    const p = await this.#attributes(session, pub, [pkcs11.CKA_EC_PARAMS, pkcs11.CKA_EC_POINT]);
    const params = p.get(pkcs11.CKA_EC_PARAMS) ?? new Uint8Array();
    if (Buffer.compare(Buffer.from(params), Buffer.from(P256_EC_PARAMS)) !== 0) {
      throw new TokenError('FAILED', `the key "${keyLabel}" on token "${label}" is not an ECDSA P-256 key`);
    }
    const spki = spkiFromEcPoint(p.get(pkcs11.CKA_EC_POINT) ?? new Uint8Array());
    this.#key = { privateKey: priv, spki, epoch: mod.epoch };
    return this.#key;
  }

  /** Generates the CA key pair on the token: sensitive, never extractable, private, persistent. */
  async #generateKey(): Promise<CaKey> {
    const mod = this.#mod();
    const session = await this.#openSession();
    const keyLabel = this.#opts.token.key_label;
    const id = new Uint8Array(randomBytes(16));
    // No CKA_ENCRYPT/CKA_DECRYPT at all: tpm2-pkcs11 rejects EC templates that set them to false.
    const publicTemplate: Pkcs11Attribute[] = [
      { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PUBLIC_KEY },
      { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_EC },
      { type: pkcs11.CKA_TOKEN, value: true },
      { type: pkcs11.CKA_PRIVATE, value: false },
      { type: pkcs11.CKA_VERIFY, value: true },
      { type: pkcs11.CKA_LABEL, value: keyLabel },
      { type: pkcs11.CKA_ID, value: id },
      { type: pkcs11.CKA_EC_PARAMS, value: P256_EC_PARAMS },
    ];
    const privateTemplate: Pkcs11Attribute[] = [
      { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
      { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_EC },
      { type: pkcs11.CKA_TOKEN, value: true },
      { type: pkcs11.CKA_PRIVATE, value: true },
      { type: pkcs11.CKA_SENSITIVE, value: true },
      { type: pkcs11.CKA_EXTRACTABLE, value: false },
      { type: pkcs11.CKA_SIGN, value: true },
      { type: pkcs11.CKA_LABEL, value: keyLabel },
      { type: pkcs11.CKA_ID, value: id },
    ];
    await mod.call({
      method: 'C_GenerateKeyPair',
      args: [session.handle, { mechanism: pkcs11.CKM_EC_KEY_PAIR_GEN }, publicTemplate, privateTemplate],
      timeoutMs: this.#opts.timeoutMs,
    });
    const key = await this.#findKey();
    if (!key) throw new TokenError('FAILED', `the CA key "${keyLabel}" was generated but cannot be found again`);
    this.#opts.log.info(`generated the CA key "${keyLabel}" on token "${this.#opts.token.label}"`, { event: 'CA_KEY_GENERATED' });
    return key;
  }
}
