import { createPublicKey, randomFillSync } from 'node:crypto';
import { Crypto, SubtleCrypto } from 'webcrypto-core';
import type { CaKeyToken } from '../token/ca-key-token.ts';
import { TokenCaKey } from './token-ca-key.ts';
import { TokenEcdsaProvider } from './token-ecdsa-provider.ts';

/**
 * A WebCrypto `Crypto` backed by one CA token: its SubtleCrypto knows only ECDSA P-256/SHA-256 and
 * signs on the token. @peculiar/x509 takes it as its crypto provider, so certificates are built by
 * the library and signed by the token's key without that key ever being in this process.
 */
export class TokenCrypto extends Crypto {
  readonly subtle: SubtleCrypto;
  readonly #token: CaKeyToken;

  constructor(token: CaKeyToken) {
    super();
    this.#token = token;
    this.subtle = new SubtleCrypto();
    this.subtle.providers.set(new TokenEcdsaProvider(token));
  }

  getRandomValues<T extends ArrayBufferView | null>(array: T): T {
    if (array) randomFillSync(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    return array;
  }

  /** The token's CA private key, as the signing key of `subtle.sign`, for the CA public key `spki` (P-256 SPKI DER). */
  caKey(spki: Uint8Array): TokenCaKey {
    const publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new TypeError('the CA public key is not ECDSA P-256');
    }
    return new TokenCaKey({ token: this.#token, publicKey });
  }
}
