// CHALLENGE/CHALLENGE_AUTH (DSP0274 1.2: no RequesterContext, that is 1.3).
import type { ByteReader } from './byte-reader.ts';
import { MAX_OPAQUE_SIZE, MAX_SLOTS, NONCE_SIZE, Req, Rsp, SummaryHash, VERSION_12 } from './constants.ts';
import { bodyReader, headerWriter } from './message-header.ts';
import { SpdmError } from './spdm-error.ts';

/** CHALLENGE: slot, which measurement summary hash, and the requester's fresh nonce. */
export interface Challenge {
  readonly slot: number;
  readonly summaryHashType: number;
  readonly nonce: Uint8Array;
}

export function encodeChallenge(c: Challenge): Uint8Array {
  return headerWriter({ version: VERSION_12, code: Req.CHALLENGE, param1: c.slot, param2: c.summaryHashType }).bytes(c.nonce).finish();
}

export function parseChallenge(msg: Uint8Array): Challenge {
  const { r, h } = bodyReader(msg, 'CHALLENGE', Req.CHALLENGE, VERSION_12);
  if (h.param1 >= MAX_SLOTS) throw new SpdmError('MALFORMED', `CHALLENGE: slot ${h.param1}`);
  if (h.param2 !== SummaryHash.NONE && h.param2 !== SummaryHash.TCB && h.param2 !== SummaryHash.ALL) {
    throw new SpdmError('MALFORMED', `CHALLENGE: summary hash type ${h.param2}`);
  }
  const nonce = r.bytes(NONCE_SIZE, 'Nonce');
  r.end();
  return { slot: h.param1, summaryHashType: h.param2, nonce };
}

/** CHALLENGE_AUTH; `signedPart` is the message up to the signature (what the transcript holds). */
export interface ChallengeAuth {
  readonly slot: number;
  readonly slotMask: number;
  readonly certChainHash: Uint8Array;
  readonly nonce: Uint8Array;
  readonly summaryHash: Uint8Array;
  readonly opaque: Uint8Array;
  readonly signature: Uint8Array;
}

/** Sizes a CHALLENGE_AUTH depends on (negotiated hash and signature, and whether a summary was asked for). */
export interface ChallengeAuthShape {
  readonly hashSize: number;
  readonly withSummary: boolean;
  readonly signatureSize: number;
}

/** The unsigned part; append the signature to get the message. */
export function encodeChallengeAuthUnsigned(c: Omit<ChallengeAuth, 'signature'>): Uint8Array {
  if (c.opaque.length > MAX_OPAQUE_SIZE) throw new SpdmError('OVERSIZED', 'CHALLENGE_AUTH: opaque data too long');
  return headerWriter({ version: VERSION_12, code: Rsp.CHALLENGE_AUTH, param1: c.slot & 0xf, param2: c.slotMask })
    .bytes(c.certChainHash)
    .bytes(c.nonce)
    .bytes(c.summaryHash)
    .u16(c.opaque.length)
    .bytes(c.opaque)
    .finish();
}

export function parseChallengeAuth(msg: Uint8Array, shape: ChallengeAuthShape): { auth: ChallengeAuth; signedPart: Uint8Array } {
  const { r, h } = bodyReader(msg, 'CHALLENGE_AUTH', Rsp.CHALLENGE_AUTH, VERSION_12);
  const certChainHash = r.bytes(shape.hashSize, 'CertChainHash');
  const nonce = r.bytes(NONCE_SIZE, 'Nonce');
  const summaryHash = r.bytes(shape.withSummary ? shape.hashSize : 0, 'MeasurementSummaryHash');
  const opaque = readOpaque(r, 'CHALLENGE_AUTH');
  const signedLength = r.offset;
  const signature = r.bytes(shape.signatureSize, 'Signature');
  r.end();
  return {
    auth: { slot: h.param1 & 0xf, slotMask: h.param2, certChainHash, nonce, summaryHash, opaque, signature },
    signedPart: msg.slice(0, signedLength),
  };
}

/** OpaqueDataLength (u16, at most 1024) and the opaque data. */
export function readOpaque(r: ByteReader, what: string): Uint8Array {
  const n = r.u16('OpaqueDataLength');
  if (n > MAX_OPAQUE_SIZE) throw new SpdmError('OVERSIZED', `${what}: OpaqueDataLength ${n} over ${MAX_OPAQUE_SIZE}`);
  return r.bytes(n, 'OpaqueData');
}
