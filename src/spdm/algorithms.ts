import { createHash } from 'node:crypto';

/** The signature algorithms this implementation speaks (BaseAsymAlgo). */
export type AsymName = 'ECDSA_P256' | 'ECDSA_P384';
/** The hash algorithms it speaks (BaseHashAlgo). */
export type HashName = 'SHA_256' | 'SHA_384' | 'SHA_512';
/** The signer-level algorithm names of the shared interface: curve and hash together. */
export type SignerAlgorithm = 'ECDSA_P256_SHA256' | 'ECDSA_P384_SHA384';

/** One BaseAsymAlgo: its bit, curve and IEEE P1363 signature size. */
export interface AsymAlgorithm {
  readonly name: AsymName;
  readonly bit: number;
  readonly curve: 'prime256v1' | 'secp384r1';
  readonly signatureSize: number;
}

/** One hash: its BaseHashAlgo bit, MeasurementHashAlgo bit, node name and size. */
export interface HashAlgorithm {
  readonly name: HashName;
  readonly baseBit: number;
  readonly measurementBit: number;
  readonly node: 'sha256' | 'sha384' | 'sha512';
  readonly size: number;
}

export const ASYM: readonly AsymAlgorithm[] = [
  { name: 'ECDSA_P256', bit: 0x10, curve: 'prime256v1', signatureSize: 64 },
  { name: 'ECDSA_P384', bit: 0x80, curve: 'secp384r1', signatureSize: 96 },
];

export const HASH: readonly HashAlgorithm[] = [
  { name: 'SHA_256', baseBit: 0x1, measurementBit: 0x2, node: 'sha256', size: 32 },
  { name: 'SHA_384', baseBit: 0x2, measurementBit: 0x4, node: 'sha384', size: 48 },
  { name: 'SHA_512', baseBit: 0x4, measurementBit: 0x8, node: 'sha512', size: 64 },
];

/** MeasurementHashAlgo bit 0: the responder only returns raw bit streams. */
export const MEASUREMENT_RAW_ONLY = 0x1;

export function asymByBit(bit: number): AsymAlgorithm | undefined {
  return ASYM.find((a) => a.bit === bit);
}
export function hashByBaseBit(bit: number): HashAlgorithm | undefined {
  return HASH.find((h) => h.baseBit === bit);
}
export function hashByMeasurementBit(bit: number): HashAlgorithm | undefined {
  return HASH.find((h) => h.measurementBit === bit);
}
export function asymByName(name: AsymName): AsymAlgorithm {
  const a = ASYM.find((x) => x.name === name);
  if (!a) throw new Error(`unknown asym ${name}`);
  return a;
}
export function hashByName(name: HashName): HashAlgorithm {
  const h = HASH.find((x) => x.name === name);
  if (!h) throw new Error(`unknown hash ${name}`);
  return h;
}

/** Curve and hash of a signer algorithm. */
export function splitSignerAlgorithm(alg: SignerAlgorithm): { asym: AsymAlgorithm; hash: HashAlgorithm } {
  return alg === 'ECDSA_P256_SHA256'
    ? { asym: asymByName('ECDSA_P256'), hash: hashByName('SHA_256') }
    : { asym: asymByName('ECDSA_P384'), hash: hashByName('SHA_384') };
}

/** Digest of `data` with `h`. */
export function digest(h: HashAlgorithm, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(h.node).update(data).digest());
}

/** True when exactly one bit (or none, with allowZero) is set. */
export function oneHot(v: number, allowZero = false): boolean {
  if (v === 0) return allowZero;
  return (v & (v - 1)) === 0;
}
