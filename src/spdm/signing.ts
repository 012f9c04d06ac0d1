// SPDM 1.2 signatures (DSP0274 1.2, "Signature generation"): the signed message is the 100-byte
// signing context — "dmtf-spdm-v1.2.*" four times, then the context string right-aligned in 36
// bytes with zero padding in front — followed by Hash(transcript) with the negotiated hash; ECDSA
// then hashes that message once more with the same hash. Signatures are r||s, big-endian.
import { createPrivateKey, type KeyObject, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { digest, type HashAlgorithm, hashByName, type HashName, type SignerAlgorithm, splitSignerAlgorithm } from './algorithms.ts';
import { concatBytes } from './byte-reader.ts';
import { SpdmError } from './spdm-error.ts';

/** Signs SPDM 1.2 signing-context messages with the device identity key. */
export interface SpdmSigner {
  readonly algorithm: SignerAlgorithm;
  /** ECDSA over `message` with the algorithm's hash; IEEE P1363 r||s. */
  sign(message: Uint8Array): Promise<Uint8Array>;
  /**
   * ECDSA over `message` with another hash than the algorithm's (e.g. a P-384 key with SHA-256,
   * when that is all a requester offers); only signers that can, a token key cannot.
   */
  readonly signWithHash?: (hash: HashName, message: Uint8Array) => Promise<Uint8Array>;
}

const PREFIX = 'dmtf-spdm-v1.2.*';
const CONTEXT_FIELD = 36;

/** The 100-byte signing context for `context` (e.g. "responder-challenge_auth signing"). */
export function signingContext(context: string): Uint8Array {
  const out = new Uint8Array(100);
  const enc = new TextEncoder();
  for (let i = 0; i < 4; i++) out.set(enc.encode(PREFIX), i * 16);
  const ctx = enc.encode(context);
  if (ctx.length > CONTEXT_FIELD) throw new Error(`signing context ${context} too long`);
  out.set(ctx, 64 + CONTEXT_FIELD - ctx.length);
  return out;
}

/** What is handed to ECDSA: the signing context followed by the transcript's hash. */
export function messageToSign(hash: HashAlgorithm, context: string, transcript: Uint8Array): Uint8Array {
  return concatBytes([signingContext(context), digest(hash, transcript)]);
}

/** Checks an SPDM 1.2 signature over `transcript` with the leaf's public key; throws BAD_SIGNATURE. */
export function verifySpdmSignature(o: {
  readonly key: KeyObject;
  readonly hash: HashAlgorithm;
  readonly context: string;
  readonly transcript: Uint8Array;
  readonly signature: Uint8Array;
  readonly what: string;
}): void {
  const ok = nodeVerify(o.hash.node, messageToSign(o.hash, o.context, o.transcript), { key: o.key, dsaEncoding: 'ieee-p1363' }, o.signature);
  if (!ok) throw new SpdmError('BAD_SIGNATURE', `${o.what} signature does not verify over this session's transcript`);
}

/** A signer holding the identity key in memory (P-384 and tests; a token-backed signer serves P-256 from the TPM). */
export function softwareSigner(o: { readonly algorithm: SignerAlgorithm; readonly privateKeyPem: string | KeyObject }): SpdmSigner {
  const key = typeof o.privateKeyPem === 'string' ? createPrivateKey(o.privateKeyPem) : o.privateKeyPem;
  const { asym, hash } = splitSignerAlgorithm(o.algorithm);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== asym.curve) {
    throw new Error(`software signer: key is ${String(curve ?? key.asymmetricKeyType)}, algorithm ${o.algorithm} needs ${asym.curve}`);
  }
  return {
    algorithm: o.algorithm,
    sign: async (message) => new Uint8Array(nodeSign(hash.node, message, { key, dsaEncoding: 'ieee-p1363' })),
    signWithHash: async (name, message) => new Uint8Array(nodeSign(hashByName(name).node, message, { key, dsaEncoding: 'ieee-p1363' })),
  };
}

/** The signer algorithm that fits a private key's curve. */
export function signerAlgorithmOf(key: KeyObject): SignerAlgorithm {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return 'ECDSA_P256_SHA256';
  if (curve === 'secp384r1') return 'ECDSA_P384_SHA384';
  throw new Error(`identity key curve ${String(curve)} is neither P-256 nor P-384`);
}
