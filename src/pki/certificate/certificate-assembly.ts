import { bitString, ecdsaSignatureValue, explicit, octetString, sequence, tlv, unsignedInteger, x509Time } from './der.ts';

/** AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters (RFC 5758). */
const ECDSA_WITH_SHA256 = Uint8Array.from([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
/** OID 2.5.29.14, subjectKeyIdentifier. */
const OID_SUBJECT_KEY_IDENTIFIER = Uint8Array.from([0x06, 0x03, 0x55, 0x1d, 0x0e]);
/** [0] EXPLICIT Version v3 (2). */
const VERSION_V3 = explicit(0, tlv(0x02, Uint8Array.of(2)));

/** What stays the same across the certificates one profile issues: names and fixed extensions, DER. */
export interface CertificateProfile {
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** Each a DER Extension. */
  readonly extensions: readonly Uint8Array[];
}

/** What changes per certificate. */
export interface CertificateFields {
  /** Positive serial number, big-endian magnitude. */
  readonly serial: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  readonly spki: Uint8Array;
  /** Per-certificate extensions (DER), appended after the profile's. */
  readonly extensions?: readonly Uint8Array[];
}

/** DER TBSCertificate (RFC 5280 4.1) signed with ecdsa-with-SHA256. */
export function tbsCertificate(profile: CertificateProfile, fields: CertificateFields): Uint8Array {
  return sequence(
    VERSION_V3,
    unsignedInteger(fields.serial),
    ECDSA_WITH_SHA256,
    profile.issuer,
    sequence(x509Time(fields.notBefore), x509Time(fields.notAfter)),
    profile.subject,
    fields.spki,
    explicit(3, sequence(...profile.extensions, ...(fields.extensions ?? []))),
  );
}

/** DER Certificate from a TBSCertificate and the issuer's ECDSA signature over it (IEEE P1363 r||s). */
export function signedCertificate(tbs: Uint8Array, signatureRs: Uint8Array): Uint8Array {
  return sequence(tbs, ECDSA_WITH_SHA256, bitString(ecdsaSignatureValue(signatureRs)));
}

/** Non-critical subjectKeyIdentifier extension, DER. */
export function subjectKeyIdentifierExtension(keyId: Uint8Array): Uint8Array {
  return sequence(OID_SUBJECT_KEY_IDENTIFIER, octetString(octetString(keyId)));
}
