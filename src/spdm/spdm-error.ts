/**
 * Why an SPDM exchange failed, as a stable code callers (attestationd, the CLI, tests) can act on.
 * Parsers only ever throw TRUNCATED, OVERSIZED or MALFORMED; the requester adds the rest.
 */
export type SpdmErrorCode =
  | 'TRUNCATED'
  | 'OVERSIZED'
  | 'MALFORMED'
  | 'UNEXPECTED_RESPONSE'
  | 'PEER_ERROR'
  | 'VERSION_MISMATCH'
  | 'NEGOTIATION_FAILED'
  | 'DIGEST_MISMATCH'
  | 'CHAIN_HASH_MISMATCH'
  | 'BAD_CERTIFICATE'
  | 'UNTRUSTED_CHAIN'
  | 'BAD_SIGNATURE'
  | 'TIMEOUT'
  | 'CONNECTION'
  | 'INTERNAL';

/** The one error type of src/spdm: every failure carries a code and a one-line reason (never a nonce or key). */
export class SpdmError extends Error {
  override readonly name = 'SpdmError';
  constructor(
    readonly code: SpdmErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** True for an SpdmError (also across module copies, by name and code). */
export function isSpdmError(err: unknown): err is SpdmError {
  return err instanceof SpdmError;
}
