import { createPublicKey } from 'node:crypto';
import { Crypto as PeculiarCrypto } from '@peculiar/webcrypto';
import { SubtleCrypto as ProviderRegistry } from 'webcrypto-core';
import type { CaKeyToken } from '../token/index.ts';
import { TokenCaKey } from './token-ca-key.ts';
import { TokenEcdsaProvider } from './token-ecdsa-provider.ts';

/**
 * @peculiar/webcrypto's `Crypto` with its ECDSA provider replaced by one CA token's: ECDSA
 * P-256/SHA-256 signs on the token, every other algorithm (digests, randomness) is the library's.
 * @peculiar/x509 takes it as its crypto provider, so certificates are built by the library and
 * signed by the token's key without that key ever being in this process.
 */
export class TokenCrypto extends PeculiarCrypto {
  readonly #token: CaKeyToken;

  constructor(token: CaKeyToken) {
    super();
    this.#token = token;
    // The library's SubtleCrypto is webcrypto-core's provider registry (its typings say only SubtleCrypto).
    const subtle: unknown = this.subtle;
    if (!(subtle instanceof ProviderRegistry)) throw new TypeError('@peculiar/webcrypto no longer keeps its providers in a webcrypto-core SubtleCrypto');
    subtle.providers.set(new TokenEcdsaProvider(token));
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
