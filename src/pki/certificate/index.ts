/**
 * The certificate room: the token CA's certificate and the TLS leaves it issues, built with
 * @peculiar/x509 and signed through a token-backed WebCrypto; where they are written; and the
 * in-memory leaf credentials the TLS layer reads. Import from here, not from the files inside.
 */

// What the daemon uses.
export { createCertificateIssuer, type CertificateIssuer, type CertificateIssuerDeps } from './certificate-issuer.ts';
export { CredentialHolder, type IssuedCredentials, type TlsCredentials } from './tls-credentials.ts';
export { certPaths, type CertPaths } from './cert-paths.ts';
export { pemCertificates } from './pem-certificates.ts';

// The steps of an issuance, for benchmarks and the known-answer tests.
export { ensureCaCertificate, type CaCertificateRequest, type IssuingCa } from './ca-certificate.ts';
export { caStartReader } from './ca-start.ts';
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
