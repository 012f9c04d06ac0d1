import type { KeyObject } from 'node:crypto';
import { CryptoKey } from 'webcrypto-core';
import type { CaKeyToken } from '../token/index.ts';

/** The algorithm every token CA key has: ECDSA on P-256 (what `CaKeyToken.sign` computes). */
export const TOKEN_CA_KEY_ALGORITHM: EcKeyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' };

/**
 * The token's CA private key as WebCrypto sees it: a handle, not key material (the key never
 * leaves the token). It can only sign, through the `TokenCrypto` of the same token.
 */
export class TokenCaKey extends CryptoKey {
  /** The token that holds the private key and signs. */
  readonly token: CaKeyToken;
  /** The CA public key, which every signature is checked against before it is used. */
  readonly publicKey: KeyObject;

  constructor(opts: { readonly token: CaKeyToken; readonly publicKey: KeyObject }) {
    super();
    this.algorithm = TOKEN_CA_KEY_ALGORITHM;
    this.type = 'private';
    this.extractable = false;
    this.usages = ['sign'];
    this.token = opts.token;
    this.publicKey = opts.publicKey;
  }
}
