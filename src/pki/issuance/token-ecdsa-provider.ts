import { EcdsaProvider, OperationError, UnsupportedOperationError } from 'webcrypto-core';
import type { CaKeyToken } from '../token/index.ts';
import { TokenCaKey } from './token-ca-key.ts';
import { signVerified } from './verified-signature.ts';

/**
 * WebCrypto ECDSA (P-256, SHA-256) whose private-key operation is the token's: `sign` hands the
 * data to `CaKeyToken.sign`, whose IEEE P1363 r||s is exactly what WebCrypto ECDSA returns. Only
 * signing with a CA key of this provider's token is offered: the CA key is made by the token
 * (`CaKeyToken.caPublicKey`), never generated, imported or exported here, and certificates are
 * verified with the CA public key outside WebCrypto.
 */
export class TokenEcdsaProvider extends EcdsaProvider {
  override readonly hashAlgorithms = ['SHA-256'];
  override namedCurves = ['P-256'];
  readonly #token: CaKeyToken;

  constructor(token: CaKeyToken) {
    super();
    this.#token = token;
  }

  override checkCryptoKey(key: CryptoKey, keyUsage?: KeyUsage): void {
    super.checkCryptoKey(key, keyUsage);
    if (!(key instanceof TokenCaKey) || key.token !== this.#token) {
      throw new OperationError(`the key is not the CA key of ${this.#token.description}`);
    }
  }

  /** The token's signature, checked against the CA public key before it is returned. */
  override async onSign(_algorithm: EcdsaParams, key: CryptoKey, data: ArrayBuffer): Promise<ArrayBuffer> {
    if (!(key instanceof TokenCaKey)) throw new OperationError('not a token CA key');
    const signature = await signVerified({ token: this.#token, data: new Uint8Array(data), publicKey: key.publicKey });
    return new Uint8Array(signature).buffer;
  }

  override async onVerify(): Promise<boolean> {
    throw new UnsupportedOperationError('verify');
  }

  override async onGenerateKey(): Promise<CryptoKeyPair> {
    throw new UnsupportedOperationError('generateKey');
  }

  override async onImportKey(): Promise<CryptoKey> {
    throw new UnsupportedOperationError('importKey');
  }

  override async onExportKey(): Promise<ArrayBuffer> {
    throw new UnsupportedOperationError('exportKey');
  }
}
