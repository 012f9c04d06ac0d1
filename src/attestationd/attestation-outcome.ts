/** The result of attesting one device, as the requester object publishes it. */
export type AttestationOutcome =
  | {
      readonly ok: true;
      /** The peer's provisioning CA (PEM), taken from its signed measurement block 0xEF. */
      readonly caPem: string;
      readonly caFingerprint: string;
      /** Subject of the peer's device identity certificate (the chain's leaf). */
      readonly deviceSubject: string;
    }
  | {
      readonly ok: false;
      /** Stable code, e.g. UNTRUSTED_CHAIN, MEASUREMENT_MISMATCH, TIMEOUT, CONNECTION. */
      readonly code: string;
      /** One line, never a nonce or key. */
      readonly reason: string;
    };

/** Where and whom to attest. */
export interface AttestationRequest {
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

/** Runs one attestation to its verdict; never throws (every failure is an outcome). */
export type AttestDevice = (request: AttestationRequest) => Promise<AttestationOutcome>;
