import { hexOf } from '../../util/hex.ts';
import type { CertificateProfile } from './certificate-assembly.ts';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectAlternativeNameExtension,
} from './x509.ts';

/** The CA's subject for a BMC name: `CN=<name> Provisioning CA`. */
export function caCommonName(bmcName: string): string {
  return `${bmcName} Provisioning CA`;
}

function nameDer(commonName: string): Uint8Array {
  return new Uint8Array(new Name([{ CN: [commonName] }]).toArrayBuffer());
}

const der = (ext: { rawData: ArrayBuffer }): Uint8Array => new Uint8Array(ext.rawData);

/**
 * The self-signed intermediate CA: basicConstraints critical CA:true pathLen 0, keyUsage critical
 * keyCertSign + cRLSign, AKI = SKI = the key's identifier (the SKI is added per certificate).
 */
export function caProfile(opts: { readonly bmcName: string; readonly keyId: Uint8Array }): CertificateProfile {
  const name = nameDer(caCommonName(opts.bmcName));
  return {
    issuer: name,
    subject: name,
    extensions: [
      der(new BasicConstraintsExtension(true, 0, true)),
      der(new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true)),
      der(new AuthorityKeyIdentifierExtension(hexOf(opts.keyId))),
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
    issuer: nameDer(caCommonName(opts.bmcName)),
    subject: nameDer(opts.bmcName),
    extensions: [
      der(new BasicConstraintsExtension(false, undefined, true)),
      der(new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true)),
      der(new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth])),
      der(new SubjectAlternativeNameExtension([{ type: 'dns', value: opts.bmcName }])),
      der(new AuthorityKeyIdentifierExtension(hexOf(opts.caKeyId))),
    ],
  };
}
