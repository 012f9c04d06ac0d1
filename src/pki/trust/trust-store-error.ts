/** Why a certificate was refused by the trust store; the caller can map it to InvalidArgument. */
export type TrustStoreErrorCode = 'NOT_ONE_CERTIFICATE' | 'NOT_A_CA' | 'CONTAINS_PRIVATE_KEY' | 'TOO_LARGE' | 'BAD_NAME';

/** Bad input to the trust store: nothing was written, the trusted set is unchanged. */
export class TrustStoreError extends Error {
  override readonly name = 'TrustStoreError';
  constructor(
    readonly code: TrustStoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}
