/** The CA key's public half as the token holds it. */
export interface CaPublicKey {
  /** DER SubjectPublicKeyInfo (ECDSA P-256). */
  readonly spki: Uint8Array;
  /** True when this call generated the key. */
  readonly created: boolean;
}

/**
 * Where the CA's private key lives and signs: a PKCS#11 token (TPM, HSM) or the software token.
 * Operations are queued, one at a time; every failure is a TokenError.
 */
export interface CaKeyToken {
  /** For logs: which token this is (never secret). */
  readonly description: string;
  /**
   * Finds the CA key by its label. If there is none: with `create`, generates it on the token;
   * without, fails with CA_KEY_MISSING. An existing key is never replaced.
   */
  caPublicKey(opts: { readonly create: boolean }): Promise<CaPublicKey>;
  /** ECDSA P-256 with SHA-256 over `data` with the CA key; IEEE P1363 r||s (64 bytes). */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** Closes sessions and unloads; further calls re-open. */
  close(): Promise<void>;
}
