import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as signWith, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.ts';
import { withTimeout } from '../../util/with-timeout.ts';
import { ensureDir, writeFileAtomic } from '../../util/atomic-file.ts';
import { SerialQueue } from '../../util/serial-queue.ts';
import type { CaKeyToken, CaPublicKey } from './ca-key-token.ts';
import { TokenError } from './token-error.ts';
import { errorMessage } from '../../util/error-message.ts';

/** Where the software token keeps its key, and the per-call timeout. */
export interface SoftwareTokenOptions {
  readonly stateDir: string;
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** The software token's directory under state_dir (0700) and key file in it (0600). */
export function softwareTokenPaths(stateDir: string): { readonly dir: string; readonly keyFile: string } {
  const dir = join(stateDir, 'software-token');
  return { dir, keyFile: join(dir, 'ca-key.pem') };
}

/**
 * The embedded default when no `token` is configured: the CA key is an ECDSA P-256 key in a 0600
 * PKCS#8 file under `<state_dir>/software-token/` (directory 0700), loaded again after a restart.
 * It protects the key only by file permissions: use a TPM-backed PKCS#11 token in production.
 */
export class SoftwareToken implements CaKeyToken {
  readonly description: string;
  #opts: SoftwareTokenOptions;
  #paths: { readonly dir: string; readonly keyFile: string };
  #key: { readonly privateKey: KeyObject; readonly spki: Uint8Array } | undefined;
  #queue = new SerialQueue();

  constructor(opts: SoftwareTokenOptions) {
    this.#opts = opts;
    this.#paths = softwareTokenPaths(opts.stateDir);
    this.description = `software token (${this.#paths.keyFile})`;
  }

  caPublicKey(opts: { readonly create: boolean }): Promise<CaPublicKey> {
    return this.#op('finding the CA key', async () => {
      const found = await this.#load();
      if (found) return { spki: found.spki, created: false };
      if (!opts.create) {
        throw new TokenError(
          'CA_KEY_MISSING',
          `no CA key in ${this.#paths.keyFile}; provision this BMC (ProvisionPeer "self") to create one`,
        );
      }
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
      try {
        await ensureDir(this.#opts.stateDir, 0o700);
        await ensureDir(this.#paths.dir, 0o700);
        await writeFileAtomic({ path: this.#paths.keyFile, data: pem, mode: 0o600, dirMode: 0o700 });
      } catch (err) {
        // The new key was never in place: nothing to keep, and the next ProvisionPeer("self") makes another.
        throw tokenFailure(`writing a new CA key to ${this.#paths.keyFile}`, err);
      }
      this.#key = { privateKey, spki: spkiOf(privateKey) };
      this.#opts.log.info(`generated the CA key in ${this.#paths.keyFile}`, { event: 'CA_KEY_GENERATED' });
      return { spki: this.#key.spki, created: true };
    });
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    return this.#op('signing', async () => {
      const key = this.#key ?? (await this.#load());
      if (!key) throw new TokenError('CA_KEY_MISSING', `no CA key in ${this.#paths.keyFile}`);
      return new Uint8Array(signWith('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }));
    });
  }

  close(): Promise<void> {
    return this.#queue.run(async () => {
      this.#key = undefined;
    });
  }

  #op<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(async () => {
      try {
        return await withTimeout(fn(), this.#opts.timeoutMs, `software token: ${what}`);
      } catch (err) {
        if (err instanceof TokenError) throw err;
        throw tokenFailure(what, err);
      }
    });
  }

  /** Loads the key file if present; refuses one that group or others can read. */
  async #load(): Promise<{ readonly privateKey: KeyObject; readonly spki: Uint8Array } | undefined> {
    if (this.#key) return this.#key;
    const file = this.#paths.keyFile;
    let mode: number;
    try {
      mode = (await stat(file)).mode;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if ((mode & 0o077) !== 0) {
      throw new TokenError('FAILED', `${file} has mode 0${(mode & 0o777).toString(8)}; the CA key file must be 0600 (check who read it, then chmod 600)`);
    }
    const privateKey = createPrivateKey(await readFile(file));
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new TokenError('FAILED', `${file} does not hold an ECDSA P-256 key`);
    }
    this.#key = { privateKey, spki: spkiOf(privateKey) };
    return this.#key;
  }
}

function spkiOf(privateKey: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
}

/** A failure of the software token's file work as a TokenError (TIMEOUT for a deadline, FAILED otherwise), saying what it was doing. */
function tokenFailure(what: string, err: unknown): TokenError {
  const code = (err as { code?: unknown }).code === 'TIMEOUT' ? 'TIMEOUT' : 'FAILED';
  return new TokenError(code, `software token: ${what}: ${errorMessage(err)}`);
}
