import { verify, type KeyObject } from 'node:crypto';
import { type CaKeyToken, TokenError } from '../token/index.ts';

/** What to sign with the token, and the CA public key the signature must verify under. */
export interface VerifiedSignatureRequest {
  readonly token: CaKeyToken;
  readonly data: Uint8Array;
  readonly publicKey: KeyObject;
}

/**
 * Signs with the token's CA key and checks the signature against the CA public key before it is
 * used, so a swapped key or a faulty token never yields a certificate that peers would refuse.
 */
export async function signVerified(req: VerifiedSignatureRequest): Promise<Uint8Array> {
  const signature = await req.token.sign(req.data);
  if (!verify('sha256', req.data, { key: req.publicKey, dsaEncoding: 'ieee-p1363' }, signature)) {
    throw new TokenError('FAILED', `${req.token.description} returned a signature that does not verify under the CA public key`);
  }
  return signature;
}
