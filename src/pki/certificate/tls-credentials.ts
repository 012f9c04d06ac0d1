/** The in-memory TLS material of this BMC: leaf keys live only here, never on disk. */
export interface TlsCredentials {
  /** PKCS#8 PEM of the leaf private key (memory only). */
  readonly keyPem: string;
  /** Leaf certificate followed by the CA certificate, PEM. */
  readonly certChainPem: string;
  /** This BMC's CA certificate, PEM. */
  readonly caPem: string;
  readonly notAfter: Date;
}

/** Both roles' credentials, swapped atomically on every issuance so links read a consistent pair. */
export interface IssuedCredentials {
  readonly server: TlsCredentials;
  readonly client: TlsCredentials;
  /** Monotonic counter, bumped on every issuance, so consumers know when to rebuild contexts. */
  readonly generation: number;
}

/** Where the TLS layer reads the current leaf credentials from; written by the issuer. */
export class CredentialHolder {
  #current: IssuedCredentials | undefined;
  #listeners = new Set<(c: IssuedCredentials) => void>();

  current(): IssuedCredentials | undefined {
    return this.#current;
  }

  set(next: Omit<IssuedCredentials, 'generation'>): IssuedCredentials {
    const issued: IssuedCredentials = { ...next, generation: (this.#current?.generation ?? 0) + 1 };
    this.#current = issued;
    for (const l of this.#listeners) l(issued);
    return issued;
  }

  onChange(listener: (c: IssuedCredentials) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
