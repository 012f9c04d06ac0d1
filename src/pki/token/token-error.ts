/** What went wrong with the token, in terms an operator can act on (docs/tokens.md lists each). */
export type TokenErrorCode =
  | 'MODULE_MISSING'
  | 'ADDON_MISSING'
  | 'LABEL_NOT_FOUND'
  | 'PIN_INCORRECT'
  | 'PIN_LOCKED'
  | 'TOKEN_GONE'
  | 'PIN_FILE_INSECURE'
  | 'PIN_FILE_UNREADABLE'
  | 'CA_KEY_MISSING'
  | 'TIMEOUT'
  | 'FAILED';

/** Details attached to a TokenError: the PKCS#11 return code name and the call that failed. */
export interface TokenErrorDetails {
  /** PKCS#11 return code name, e.g. `CKR_PIN_INCORRECT`, when the module returned one. */
  readonly ckr?: string;
  /** The PKCS#11 function or step that failed, e.g. `C_Login`. */
  readonly operation?: string;
}

/**
 * Every failure of the CA key's token (PKCS#11 or software). The message is one line, names the
 * PKCS#11 return code when there is one, and never contains a PIN or key material.
 */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code: TokenErrorCode;
  readonly ckr: string | undefined;
  readonly operation: string | undefined;

  constructor(code: TokenErrorCode, message: string, details: TokenErrorDetails = {}) {
    const suffix = details.ckr && !message.includes(details.ckr) ? ` (${details.ckr})` : '';
    super(`${code}: ${message}${suffix}`);
    this.code = code;
    this.ckr = details.ckr;
    this.operation = details.operation;
  }
}

/** True for errors after which the token connection must be re-opened before the next call. */
export function needsReopen(err: TokenError): boolean {
  return err.code === 'TOKEN_GONE' || err.code === 'TIMEOUT';
}
