// @peculiar/x509 needs a Reflect metadata polyfill loaded before it (tsyringe); import it, and the
// ASN.1 schema it is built on, from here only (the certificate room's PEM reader uses
// @peculiar/utils, so that reading PEM never loads this library).
import 'reflect-metadata';

export {
  AsnEcSignatureFormatter,
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  EcAlgorithm,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
} from '@peculiar/x509';
export { AsnConvert } from '@peculiar/asn1-schema';
export {
  Certificate,
  Extension as AsnExtension,
  Extensions,
  Name as AsnName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
