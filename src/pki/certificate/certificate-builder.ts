import { keyIdentifier } from '../token/ec-p256.ts';
import { hexOf } from '../../util/hex.ts';
import type { CertificateProfile } from './certificate-profile.ts';
import type { TokenCaKey } from './token-ca-key.ts';
import type { TokenCrypto } from './token-crypto.ts';
import { SubjectKeyIdentifierExtension, X509CertificateGenerator } from './x509.ts';

/** ecdsa-with-SHA256 (RFC 5758), the signature algorithm of every certificate here; the curve comes from the key. */
const SIGNATURE_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

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

/**
 * Builds and signs an X.509 v3 certificate with @peculiar/x509: version 3, the serial, issuer,
 * validity, subject and key given, the profile's extensions followed by the subjectKeyIdentifier
 * (SHA-1 of the certified key, RFC 5280 method 1), signed ecdsa-with-SHA256 by the token.
 * Bad fields are a RangeError before the token is asked to sign anything.
 */
export async function buildCertificate(req: CertificateRequest): Promise<BuiltCertificate> {
  const { profile, fields, signer } = req;
  checkFields(fields);
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: hexOf(fields.serial),
      issuer: profile.issuer,
      subject: profile.subject,
      notBefore: fields.notBefore,
      notAfter: fields.notAfter,
      publicKey: new Uint8Array(fields.spki),
      signingKey: signer.key,
      signingAlgorithm: SIGNATURE_ALGORITHM,
      extensions: [...profile.extensions, new SubjectKeyIdentifierExtension(hexOf(keyIdentifier(fields.spki)))],
    },
    signer.crypto,
  );
  return { der: new Uint8Array(cert.rawData), pem: `${cert.toString('pem')}\n` };
}
