/**
 * Reading Node/OpenSSL TLS errors: which ones mean "this BMC refused the peer's certificate" (not
 * worth retrying until trust changes) and a short reason text for logs and link events.
 */

/**
 * The codes Node gives certificate-verification failures of the peer's chain (OpenSSL X509_V_ERR
 * names), plus the identity checks of peer-identity.ts.
 */
const LOCAL_VERIFICATION_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_PEER_EKU',
  'ERR_PEER_NO_NAME',
  'ERR_PEER_NAME_NOT_BOUND',
  'ERR_PEER_VALIDITY',
]);

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** True when the error is this side rejecting the peer's certificate chain or identity. */
export function isLocalVerificationFailure(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && LOCAL_VERIFICATION_CODES.has(code);
}

/** Verification codes that mean "no trusted CA issued this chain" (rather than a bad certificate). */
const UNKNOWN_ISSUER_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** True when the peer's chain was refused only because no trusted CA issued it (`err` or its code). */
export function isUnknownIssuer(err: unknown): boolean {
  const code = typeof err === 'string' ? err : codeOf(err);
  return code !== undefined && UNKNOWN_ISSUER_CODES.has(code);
}

/** True when the peer ended the handshake with a TLS alert (e.g. it refused our certificate). */
export function isPeerAlert(err: unknown): boolean {
  return /^ERR_SSL_(TLSV1[3]?|SSLV3)_ALERT_/.test(codeOf(err) ?? '');
}

/** One-line reason text: `CODE: message`, without OpenSSL's error-queue prefix and source-file noise. */
export function failureReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = codeOf(err);
  const message = (err.message.split('\n')[0] ?? '')
    .replace(/^[0-9A-F]{8,}:error:[0-9A-F]+:[^:]*:[^:]*:/, '')
    .replace(/:\.\.\/[^:\s]+:\d+:?(.*)$/, (_m, rest: string) => (rest.trim() ? ` (${rest.trim()})` : ''))
    .trim();
  if (!code || message.includes(code)) return message || code || 'unknown error';
  return `${code}: ${message}`;
}
