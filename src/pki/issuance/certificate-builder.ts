import { keyIdentifier } from '../token/index.ts';
import { hexOf } from '../../util/hex.ts';
import type { CertificateProfile } from './certificate-profile.ts';
import type { TokenCaKey } from './token-ca-key.ts';
import type { TokenCrypto } from './token-crypto.ts';
import {
  AsnConvert,
  AsnEcSignatureFormatter,
  AsnExtension,
  AsnName,
  Certificate,
  EcAlgorithm,
  Extensions,
  PemConverter,
  SubjectKeyIdentifierExtension,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from './x509.ts';

/** ECDSA with SHA-256, what every certificate here is signed with (WebCrypto form). */
const SIGNATURE_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
/** Its AlgorithmIdentifier, ecdsa-with-SHA256 without parameters (RFC 5758), from @peculiar/x509's algorithm table. */
const SIGNATURE_ALGORITHM_ASN = (() => {
  const asn = new EcAlgorithm().toAsnAlgorithm({ name: 'ECDSA', hash: { name: 'SHA-256' } });
  if (!asn) throw new Error('@peculiar/x509 has no AlgorithmIdentifier for ECDSA with SHA-256');
  return asn;
})();
/** How @peculiar/x509 turns WebCrypto's r||s into the ECDSA-Sig-Value a certificate carries. */
const SIGNATURE_FORMATTER = new AsnEcSignatureFormatter();

/** Longest serial number RFC 5280 allows, in octets. */
const MAX_SERIAL_OCTETS = 20;

/** What changes per certificate. */
export interface CertificateFields {
  /** Serial number, big-endian magnitude: not zero, at most 20 octets once DER-encoded (RFC 5280). */
  readonly serial: Uint8Array;
  /** Whole seconds are kept; from 1950 on (UTCTime through 2049, GeneralizedTime from 2050). */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key (P-256); its key identifier becomes the SKI. */
  readonly spki: Uint8Array;
}

/** Who signs: the token-backed WebCrypto and the token's CA key in it. */
export interface CertificateSigner {
  readonly crypto: TokenCrypto;
  readonly key: TokenCaKey;
}

/** One certificate to build: the profile's names and extensions, this certificate's fields, the signer. */
export interface CertificateRequest {
  readonly profile: CertificateProfile;
  readonly fields: CertificateFields;
  readonly signer: CertificateSigner;
}

/** A signed certificate, DER and PEM (PEM ends with a newline, so chains are plain concatenations). */
export interface BuiltCertificate {
  readonly der: Uint8Array;
  readonly pem: string;
}

function checkFields(fields: CertificateFields): void {
  const { serial, notBefore, notAfter } = fields;
  const first = serial.findIndex((b) => b !== 0);
  // Octets of the DER INTEGER content: leading zeros dropped, a 0x00 added when the top bit is set.
  const encoded = first < 0 ? 0 : serial.length - first + ((serial[first] ?? 0) & 0x80 ? 1 : 0);
  if (encoded === 0 || encoded > MAX_SERIAL_OCTETS) {
    throw new RangeError(`certificate serial must be positive and at most ${MAX_SERIAL_OCTETS} octets in DER (got ${serial.length} octets)`);
  }
  for (const [what, date] of [['notBefore', notBefore], ['notAfter', notAfter]] as const) {
    const year = date.getUTCFullYear();
    if (Number.isNaN(year) || year < 1950 || year > 9999) throw new RangeError(`certificate ${what} out of range: ${String(date)}`);
  }
  if (notAfter.getTime() < notBefore.getTime()) {
    throw new RangeError(`certificate notAfter ${notAfter.toISOString()} is before notBefore ${notBefore.toISOString()}`);
  }
}

/** A profile's names and extensions in @peculiar/x509's ASN.1 form, made once per profile. */
interface AsnProfile {
  readonly issuer: AsnName;
  readonly subject: AsnName;
  readonly extensions: readonly AsnExtension[];
}

const asnProfiles = new WeakMap<CertificateProfile, AsnProfile>();

function asnProfile(profile: CertificateProfile): AsnProfile {
  let asn = asnProfiles.get(profile);
  if (!asn) {
    asn = {
      issuer: AsnConvert.parse(profile.issuer.toArrayBuffer(), AsnName),
      subject: AsnConvert.parse(profile.subject.toArrayBuffer(), AsnName),
      extensions: profile.extensions.map((e) => AsnConvert.parse(e.rawData, AsnExtension)),
    };
    asnProfiles.set(profile, asn);
  }
  return asn;
}

/** The serial as an INTEGER's content octets: leading zeros dropped, a 0x00 first when the top bit is set (positive). */
function serialOctets(serial: Uint8Array): ArrayBuffer {
  const first = serial.findIndex((b) => b !== 0);
  const magnitude = serial.subarray(first);
  const out = new Uint8Array(magnitude.length + ((magnitude[0] ?? 0) & 0x80 ? 1 : 0));
  out.set(magnitude, out.length - magnitude.length);
  return out.buffer;
}

/**
 * Builds and signs an X.509 v3 certificate with @peculiar/x509's ASN.1 schema: version 3, the
 * serial, issuer, validity, subject and key given, the profile's extensions followed by the
 * subjectKeyIdentifier (SHA-1 of the certified key, RFC 5280 method 1), signed ecdsa-with-SHA256
 * through the token-backed WebCrypto. The profile's names and extensions are converted once per
 * profile, not per certificate: X509CertificateGenerator redoes that for every certificate and
 * parses the finished one back, which took 5–15 times as long on a path whose budget is one TPM
 * signature (docs/tokens.md, Benchmark). Bad fields are a RangeError before the token is asked to
 * sign anything.
 */
export async function buildCertificate(req: CertificateRequest): Promise<BuiltCertificate> {
  const { fields, signer } = req;
  checkFields(fields);
  const profile = asnProfile(req.profile);
  const ski = new SubjectKeyIdentifierExtension(hexOf(keyIdentifier(fields.spki)));
  const tbsCertificate = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialOctets(fields.serial),
    signature: SIGNATURE_ALGORITHM_ASN,
    issuer: profile.issuer,
    validity: new Validity({ notBefore: fields.notBefore, notAfter: fields.notAfter }),
    subject: profile.subject,
    subjectPublicKeyInfo: AsnConvert.parse(fields.spki, SubjectPublicKeyInfo),
    extensions: new Extensions([...profile.extensions, AsnConvert.parse(ski.rawData, AsnExtension)]),
  });
  const tbs = AsnConvert.serialize(tbsCertificate);
  const rs = await signer.crypto.subtle.sign(SIGNATURE_ALGORITHM, signer.key, tbs);
  const signatureValue = SIGNATURE_FORMATTER.toAsnSignature({ ...SIGNATURE_ALGORITHM, ...signer.key.algorithm }, rs);
  if (!signatureValue) throw new Error('@peculiar/x509 cannot encode an ECDSA signature');
  const der = new Uint8Array(
    AsnConvert.serialize(new Certificate({ tbsCertificate, signatureAlgorithm: SIGNATURE_ALGORITHM_ASN, signatureValue })),
  );
  return { der, pem: `${PemConverter.encode(der, 'CERTIFICATE')}\n` };
}
