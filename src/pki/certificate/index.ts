/**
 * The certificate room: the issuer the daemon calls (it loads the X.509 builder, src/pki/issuance/,
 * on its first issuance), where certificates are written, the PEM reader, and the in-memory leaf
 * credentials the TLS layer reads. Nothing here loads the X.509 libraries. Import from here, not
 * from the files inside.
 */
export { createCertificateIssuer, type CertificateIssuer, type CertificateIssuerDeps } from './certificate-issuer.ts';
export { CredentialHolder, type IssuedCredentials, type TlsCredentials } from './tls-credentials.ts';
export { certPaths, type CertPaths } from './cert-paths.ts';
export { pemCertificates } from './pem-certificates.ts';
export { caStartReader } from './ca-start.ts';
