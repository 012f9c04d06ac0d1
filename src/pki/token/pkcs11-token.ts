import { createHash, randomBytes } from 'node:crypto';
import type { TokenConfig } from '../../config/schema.ts';
import type { Logger } from '../../log.ts';
import { SerialQueue } from '../../util/serial-queue.ts';
import { lazyPart } from '../../util/lazy-part.ts';
import type { CaKeyToken, CaPublicKey } from './ca-key-token.ts';
import { P256_EC_PARAMS, spkiFromEcPoint } from './ec-p256.ts';
import { readPinFile } from './pin-file.ts';
import type { Pkcs11Module } from './pkcs11-module.ts';
import { needsReopen, TokenError } from './token-error.ts';

/**
 * The module's code (its worker thread, the thread's protocol schemas), loaded on the token's first
 * operation: a daemon on the software token never loads it, and none loads it before its bus name.
 */
const loadPkcs11Module = lazyPart(() => import('./pkcs11-module.ts'));

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

/** A logged-in session on the PKCS#11 thread, valid while the module's epoch is unchanged. */
interface Session {
  readonly id: number;
  readonly epoch: number;
}

/** The CA key as found and checked on the token. */
interface CaKey {
  readonly attributes: CaKeyAttributes;
  readonly spki: Uint8Array;
  readonly epoch: number;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

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
      const { key_label: keyLabel, label } = this.#opts.token;
      const cached = this.#key;
      const key = cached && cached.epoch === this.#module?.epoch ? cached : await this.#findKey();
      if (!key) throw new TokenError('CA_KEY_MISSING', `the CA key "${keyLabel}" is no longer on token "${label}"`);
      const session = await this.#openSession();
      const sig = await (await this.#mod()).sign({ session: session.id, keyLabel, digest, timeoutMs: this.#opts.timeoutMs });
      if (!sig) throw new TokenError('CA_KEY_MISSING', `the CA key "${keyLabel}" is no longer on token "${label}"`);
      if (sig.length !== 64) throw new TokenError('FAILED', `C_Sign returned ${sig.length} bytes, expected 64 (P-256 r||s)`, { operation: 'C_Sign' });
      return sig;
    });
  }

  /** Reads the CA private key's security attributes back from the token. */
  caKeyAttributes(): Promise<CaKeyAttributes> {
    return this.#op(async () => {
      const key = await this.#findKey();
      if (!key) throw new TokenError('CA_KEY_MISSING', `no CA key labelled "${this.#opts.token.key_label}"`);
      return key.attributes;
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
        await mod.closeSession({ session: session.id, timeoutMs: this.#opts.timeoutMs }).catch(() => undefined);
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

  /** The module, loaded and acquired on first use (every caller runs inside the token's queue, one at a time). */
  async #mod(): Promise<Pkcs11Module> {
    this.#module ??= (await loadPkcs11Module()).Pkcs11Module.acquire(this.#opts.token.module);
    return this.#module;
  }

  async #openSession(): Promise<Session> {
    const mod = await this.#mod();
    const timeoutMs = this.#opts.timeoutMs;
    await mod.ensureInitialized(timeoutMs);
    if (this.#session && this.#session.epoch === mod.epoch) return this.#session;
    this.#session = undefined;
    const { label, pin_file } = this.#opts.token;
    const opened = await mod.openSession({ tokenLabel: label, timeoutMs });
    if (opened.kind === 'noToken') {
      const seen = opened.labels.length ? opened.labels.map((l) => `"${l}"`).join(', ') : 'none';
      throw new TokenError('LABEL_NOT_FOUND', `no token labelled "${label}" in ${this.#opts.token.module} (tokens present: ${seen})`);
    }
    if (opened.kind === 'pinLocked') {
      throw new TokenError('PIN_LOCKED', `the user PIN of token "${label}" is locked`, { ckr: 'CKR_PIN_LOCKED', operation: 'C_GetTokenInfo' });
    }
    const session = opened.session;
    try {
      // Re-read and re-check the PIN file on every login: its mode may have changed since start.
      await mod.login({ session, pin: readPinFile(pin_file), timeoutMs });
    } catch (err) {
      await mod.closeSession({ session, timeoutMs }).catch(() => undefined);
      if (err instanceof TokenError && err.code === 'PIN_INCORRECT') {
        throw new TokenError('PIN_INCORRECT', `token "${label}" refused the PIN from ${pin_file}`, { ckr: err.ckr, operation: 'C_Login' });
      }
      throw err;
    }
    this.#session = { id: session, epoch: mod.epoch };
    return this.#session;
  }

  /** Finds the CA key pair by label (the private key) and CKA_ID (its public key), and checks it. */
  async #findKey(): Promise<CaKey | undefined> {
    const mod = await this.#mod();
    const session = await this.#openSession();
    const { key_label: keyLabel, label } = this.#opts.token;
    const found = await mod.findKey({ session: session.id, keyLabel, timeoutMs: this.#opts.timeoutMs });
    const key = found.key;
    if (!key) return undefined;
    if (found.matches > 1) {
      throw new TokenError('FAILED', `token "${label}" holds several private keys labelled "${keyLabel}"; refusing to guess which is the CA key`);
    }
    if (!key.sensitive || key.extractable) {
      throw new TokenError('FAILED', `the key "${keyLabel}" on token "${label}" is not sensitive and non-extractable; refusing to use it as the CA key`);
    }
    // A key imported into the token (or once extractable) may have a copy outside it: only a key
    // that was always sensitive and never extractable can be said never to have left the token.
    if (!key.alwaysSensitive || !key.neverExtractable) {
      throw new TokenError(
        'FAILED',
        `the key "${keyLabel}" on token "${label}" was not generated on the token (CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE are not both true: imported, or once extractable); refusing to use it as the CA key`,
      );
    }
    if (!key.publicKey) throw new TokenError('FAILED', `the CA key "${keyLabel}" on token "${label}" has no public key object`);
    if (!sameBytes(key.publicKey.ecParams, P256_EC_PARAMS)) {
      throw new TokenError('FAILED', `the key "${keyLabel}" on token "${label}" is not an ECDSA P-256 key`);
    }
    const spki = spkiFromEcPoint(key.publicKey.ecPoint);
    const { publicKey: _, id, ...flags } = key;
    this.#key = { attributes: { ...flags, id: Buffer.from(id).toString('hex') }, spki, epoch: mod.epoch };
    return this.#key;
  }

  /** Generates the CA key pair on the token: sensitive, never extractable, private, persistent. */
  async #generateKey(): Promise<CaKey> {
    const session = await this.#openSession();
    const keyLabel = this.#opts.token.key_label;
    const id = new Uint8Array(randomBytes(16));
    await (await this.#mod()).generateKey({ session: session.id, keyLabel, id, timeoutMs: this.#opts.timeoutMs });
    const key = await this.#findKey();
    if (!key) throw new TokenError('FAILED', `the CA key "${keyLabel}" was generated but cannot be found again`);
    this.#opts.log.info(`generated the CA key "${keyLabel}" on token "${this.#opts.token.label}"`, { event: 'CA_KEY_GENERATED' });
    return key;
  }
}
