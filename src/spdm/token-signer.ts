import type { CaKeyToken } from '../pki/token/index.ts';
import type { SpdmSigner } from './signing.ts';

/**
 * An SPDM signer over a PKCS#11 token key (TPM through tpm2-pkcs11, or SoftHSM2): the token's
 * sign() is ECDSA P-256 with SHA-256 over the data, r||s, which is exactly what SPDM 1.2 needs for
 * ECDSA_P256 with SHA_256. A token opened with the SPDM key's label is the device identity key.
 */
export function tokenSigner(token: Pick<CaKeyToken, 'sign'>): SpdmSigner {
  return { algorithm: 'ECDSA_P256_SHA256', sign: (message) => token.sign(message) };
}
