import type { TokenErrorCode } from './token-error.ts';

/** PKCS#11 return codes meaning the token, its device or our session is no longer there. */
const GONE = new Set([
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
]);

/** Maps a PKCS#11 return code name to the TokenError code an operator acts on. */
export function tokenErrorCodeForCkr(ckr: string): TokenErrorCode {
  if (ckr === 'CKR_PIN_INCORRECT' || ckr === 'CKR_PIN_INVALID' || ckr === 'CKR_PIN_LEN_RANGE') return 'PIN_INCORRECT';
  if (ckr === 'CKR_PIN_LOCKED' || ckr === 'CKR_PIN_EXPIRED') return 'PIN_LOCKED';
  if (ckr === 'CKR_SLOT_ID_INVALID') return 'LABEL_NOT_FOUND';
  if (GONE.has(ckr)) return 'TOKEN_GONE';
  return 'FAILED';
}
