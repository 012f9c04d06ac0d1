/**
 * The issuance room: building and signing the token CA's certificate and the TLS leaves it issues,
 * with @peculiar/x509 on a token-backed WebCrypto. Heavy (the X.509 and ASN.1 libraries and their
 * Reflect metadata polyfill), so the certificate room's issuer loads it with import() on its first
 * issuance, never at start. Import from here, not from the files inside.
 */
export { ensureCaCertificate, type CaCertificateRequest, type IssuingCa } from './ca-certificate.ts';
export { issueLeaf, type IssuedLeaf, type LeafRequest } from './leaf-certificate.ts';
export {
  buildCertificate,
  type BuiltCertificate,
  type CertificateFields,
  type CertificateRequest,
  type CertificateSigner,
} from './certificate-builder.ts';
export { caCommonName, caProfile, leafProfile, type CertificateProfile } from './certificate-profile.ts';
export { randomSerial } from './certificate-serial.ts';
export { TokenCrypto } from './token-crypto.ts';
export type { TokenCaKey } from './token-ca-key.ts';
