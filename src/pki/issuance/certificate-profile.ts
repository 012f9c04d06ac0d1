import { hexOf } from '../../util/hex.ts';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  type Extension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectAlternativeNameExtension,
} from './x509.ts';

/** What stays the same across the certificates one profile issues: names and fixed extensions. */
export interface CertificateProfile {
  readonly issuer: Name;
  readonly subject: Name;
  /** In certificate order; the subjectKeyIdentifier of the certified key follows them. */
  readonly extensions: readonly Extension[];
}

/** The CA's subject for a BMC name: `CN=<name> Provisioning CA`. */
export function caCommonName(bmcName: string): string {
  return `${bmcName} Provisioning CA`;
}

const commonName = (cn: string): Name => new Name([{ CN: [cn] }]);

/**
 * The self-signed intermediate CA: basicConstraints critical CA:true pathLen 0, keyUsage critical
 * keyCertSign + cRLSign, AKI = SKI = the key's identifier (the SKI is added per certificate).
 */
export function caProfile(opts: { readonly bmcName: string; readonly keyId: Uint8Array }): CertificateProfile {
  const name = commonName(caCommonName(opts.bmcName));
  return {
    issuer: name,
    subject: name,
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      new AuthorityKeyIdentifierExtension(hexOf(opts.keyId)),
    ],
  };
}

/**
 * A TLS leaf of this BMC: one certificate for both roles (EKU serverAuth + clientAuth),
 * keyUsage critical digitalSignature, basicConstraints critical CA:false, SAN DNS:<name>,
 * AKI = the CA's key identifier.
 */
export function leafProfile(opts: { readonly bmcName: string; readonly caKeyId: Uint8Array }): CertificateProfile {
  return {
    issuer: commonName(caCommonName(opts.bmcName)),
    subject: commonName(opts.bmcName),
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
      new SubjectAlternativeNameExtension([{ type: 'dns', value: opts.bmcName }]),
      new AuthorityKeyIdentifierExtension(hexOf(opts.caKeyId)),
    ],
  };
}
