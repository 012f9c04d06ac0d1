import type pkcs11js from 'pkcs11js';
import type { Pkcs11Failure } from './pkcs11-worker-protocol.ts';
import { TokenError, type TokenErrorCode } from './token-error.ts';

/** A PKCS#11 return code name as pkcs11js defines it (a typo does not compile). */
export type CkrName = Extract<keyof typeof pkcs11js, `CKR_${string}`>;

const names = (...ckrs: CkrName[]): ReadonlySet<string> => new Set(ckrs);

const PIN_INCORRECT = names('CKR_PIN_INCORRECT', 'CKR_PIN_INVALID', 'CKR_PIN_LEN_RANGE');
const PIN_LOCKED = names('CKR_PIN_LOCKED', 'CKR_PIN_EXPIRED');
/** The token, its device or our session is no longer there: the module is re-initialised on the next call. */
const TOKEN_GONE = names(
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_REMOVED',
  'CKR_DEVICE_MEMORY',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  // tpm2-pkcs11 reports a lost TPM (TCTI I/O failure, abrmd gone) as a general error.
  'CKR_GENERAL_ERROR',
);

/** The TokenError code an operator acts on for a PKCS#11 return code (pkcs11js's Pkcs11Error name). */
export function tokenErrorCodeForCkr(ckr: string): TokenErrorCode {
  if (PIN_INCORRECT.has(ckr)) return 'PIN_INCORRECT';
  if (PIN_LOCKED.has(ckr)) return 'PIN_LOCKED';
  if (ckr === ('CKR_SLOT_ID_INVALID' satisfies CkrName)) return 'LABEL_NOT_FOUND';
  if (TOKEN_GONE.has(ckr)) return 'TOKEN_GONE';
  return 'FAILED';
}

/** Where a failure happened, for its message. */
export interface FailureContext {
  /** The module file. */
  readonly modulePath: string;
  /** The PKCS#11 step that was asked for, e.g. `C_Login`. */
  readonly operation: string;
}

/** The TokenError for a failure the PKCS#11 thread reported. */
export function tokenErrorOf(failure: Pkcs11Failure, where: FailureContext): TokenError {
  const { modulePath, operation } = where;
  switch (failure.kind) {
    case 'pkcs11':
      return new TokenError(tokenErrorCodeForCkr(failure.ckr), `${operation} failed on ${modulePath}: ${failure.ckr}`, {
        ckr: failure.ckr,
        operation: failure.method || operation,
      });
    case 'load':
      return new TokenError('MODULE_MISSING', `cannot load PKCS#11 module ${modulePath}: ${failure.message}`, { operation: 'load' });
    case 'protocol':
    case 'error':
      return new TokenError('FAILED', `${operation} failed on ${modulePath}: ${failure.message}`, { operation });
  }
}
