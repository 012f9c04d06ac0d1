/**
 * The token room: where the CA's private key lives and signs (a PKCS#11 token or the software
 * token), and every way that can fail. Code outside src/pki/token/ imports from here.
 */
export type { CaKeyToken, CaPublicKey } from './ca-key-token.ts';
export { createCaKeyToken, type TokenDeps } from './create-ca-key-token.ts';
export { ecPointOfSpki, keyIdentifier, P256_EC_PARAMS, spkiFromEcPoint } from './ec-p256.ts';
export { checkTokenAtStart } from './token-start-check.ts';
export { type CaKeyAttributes, Pkcs11Token, type Pkcs11TokenOptions } from './pkcs11-token.ts';
export { SoftwareToken, type SoftwareTokenOptions, softwareTokenPaths } from './software-token.ts';
export { needsReopen, TokenError, type TokenErrorCode, type TokenErrorDetails } from './token-error.ts';
