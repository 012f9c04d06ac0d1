// The SPDM certificate chain format (DSP0274 1.2, GET_CERTIFICATE): Length (u16, whole structure),
// Reserved (u16), RootHash (negotiated hash of the root certificate), then the DER certificates,
// root (or the certificate signed by the root) first, device leaf last. And its verification
// against the operator's trusted roots.
import { createHash, type KeyObject, X509Certificate } from 'node:crypto';
import { type AsymAlgorithm, digest, type HashAlgorithm } from './algorithms.ts';
import { ByteReader, ByteWriter, concatBytes } from './byte-reader.ts';
import { MAX_CERT_CHAIN_SIZE } from './constants.ts';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../clock/skew-allowance.ts';
import { SpdmError } from './spdm-error.ts';

/** Builds the SPDM chain structure from DER certificates, root first. */
export function encodeCertChain(hash: HashAlgorithm, certs: readonly Uint8Array[]): Uint8Array {
  const first = certs[0];
  if (!first) throw new SpdmError('MALFORMED', 'certificate chain is empty');
  const body = concatBytes(certs);
  const length = 4 + hash.size + body.length;
  if (length > MAX_CERT_CHAIN_SIZE) throw new SpdmError('OVERSIZED', `certificate chain of ${length} bytes exceeds 65535`);
  return new ByteWriter().u16(length).u16(0).bytes(digest(hash, first)).bytes(body).finish();
}

/** Length of one DER TLV at `at` (definite lengths only), bounds-checked. */
function derLength(buf: Uint8Array, at: number): number {
  const r = new ByteReader(buf.subarray(at), 'certificate DER');
  const tag = r.u8('tag');
  if (tag !== 0x30) throw new SpdmError('MALFORMED', 'certificate is not a DER SEQUENCE');
  const first = r.u8('length');
  let len = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 3) throw new SpdmError('MALFORMED', 'certificate has an unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + r.u8('length');
  }
  const total = r.offset + len;
  if (total > buf.length - at) throw new SpdmError('TRUNCATED', 'certificate runs past the end of the chain');
  return total;
}

/** A parsed SPDM chain: the root hash field and the DER certificates it holds. */
export interface ParsedCertChain {
  readonly rootHash: Uint8Array;
  readonly certs: readonly Uint8Array[];
}

export function parseCertChain(chain: Uint8Array, hash: HashAlgorithm): ParsedCertChain {
  const r = new ByteReader(chain, 'certificate chain');
  const length = r.u16('Length');
  const reserved = r.u16('Reserved');
  if (reserved !== 0) throw new SpdmError('MALFORMED', 'certificate chain: reserved field is not zero');
  if (length !== chain.length) throw new SpdmError('MALFORMED', `certificate chain: Length ${length} but ${chain.length} bytes`);
  const rootHash = r.bytes(hash.size, 'RootHash');
  const body = r.bytes(r.remaining, 'Certificates');
  const certs: Uint8Array[] = [];
  for (let at = 0; at < body.length; ) {
    const n = derLength(body, at);
    certs.push(body.slice(at, at + n));
    at += n;
  }
  if (certs.length === 0) throw new SpdmError('MALFORMED', 'certificate chain holds no certificate');
  return { rootHash, certs };
}

/**
 * Parsed certificates by the SHA-256 of their DER (parsing costs about a millisecond; the same
 * roots and chains come back on every attestation). Parsing only: every signature is verified anew.
 */
const parsed = new Map<string, X509Certificate>();
const PARSED_MAX = 256;

function x509(der: Uint8Array, which: string): X509Certificate {
  const key = createHash('sha256').update(der).digest('hex');
  const hit = parsed.get(key);
  if (hit) return hit;
  try {
    const cert = new X509Certificate(der);
    if (parsed.size >= PARSED_MAX) parsed.delete(parsed.keys().next().value ?? '');
    parsed.set(key, cert);
    return cert;
  } catch (err) {
    throw new SpdmError('BAD_CERTIFICATE', `${which}: not an X.509 certificate (${String((err as Error).message)})`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** What a verified chain yields: its certificates and the leaf (device identity) certificate. */
export interface VerifiedChain {
  readonly certs: readonly X509Certificate[];
  readonly leaf: X509Certificate;
  /** The leaf's public key, which signs CHALLENGE_AUTH and MEASUREMENTS. */
  readonly leafKey: KeyObject;
}

/** Options for verifying a responder's chain. */
export interface VerifyChainOptions {
  readonly chain: ParsedCertChain;
  readonly hash: HashAlgorithm;
  readonly asym: AsymAlgorithm;
  readonly roots: readonly Uint8Array[];
  readonly now?: Date;
}

/**
 * Checks the root hash, that each certificate is issued and signed by the one before it, that
 * all are within their validity (widened by the clock-skew allowance on both sides), that only the leaf may be a non-CA, that the first certificate is
 * a trusted root (or is signed by one), and that the leaf key is on the negotiated curve.
 */
export function verifyCertChain(o: VerifyChainOptions): VerifiedChain {
  const first = o.chain.certs[0];
  if (!first) throw new SpdmError('MALFORMED', 'certificate chain holds no certificate');
  if (!equalBytes(digest(o.hash, first), o.chain.rootHash)) {
    throw new SpdmError('BAD_CERTIFICATE', 'certificate chain: RootHash is not the hash of its first certificate');
  }
  const certs = o.chain.certs.map((der, i) => x509(der, `certificate ${i}`));
  // Our clock may be off from the one that made the chain by up to the skew allowance, either way.
  const now = (o.now ?? new Date()).getTime();
  certs.forEach((c, i) => {
    if (now < Date.parse(c.validFrom) - CLOCK_SKEW_ALLOWANCE_MS || now > Date.parse(c.validTo) + CLOCK_SKEW_ALLOWANCE_MS) {
      throw new SpdmError(
        'BAD_CERTIFICATE',
        `certificate ${i} (${c.subject.replace(/\n/g, ', ')}) is outside its validity period (${c.validFrom} to ${c.validTo}, ±${CLOCK_SKEW_ALLOWANCE_MS / 3_600_000} h of clock skew)`,
      );
    }
    if (i < certs.length - 1 && !c.ca) throw new SpdmError('BAD_CERTIFICATE', `certificate ${i} is not a CA but issues the next one`);
    const issuer = certs[i - 1];
    if (issuer && (!c.checkIssued(issuer) || !c.verify(issuer.publicKey))) {
      throw new SpdmError('BAD_CERTIFICATE', `certificate ${i} is not signed by certificate ${i - 1}`);
    }
  });
  const head = certs[0];
  const leaf = certs[certs.length - 1];
  if (!head || !leaf) throw new SpdmError('MALFORMED', 'certificate chain holds no certificate');
  const trusted = o.roots.some((rootDer) => {
    if (equalBytes(rootDer, first)) return true;
    const root = x509(rootDer, 'trusted root');
    return root.ca && head.checkIssued(root) && head.verify(root.publicKey);
  });
  if (!trusted) throw new SpdmError('UNTRUSTED_CHAIN', `certificate chain does not start at a trusted root (${head.issuer.replace(/\n/g, ', ')})`);
  const leafKey = leaf.publicKey;
  const curve = leafKey.asymmetricKeyDetails?.namedCurve;
  if (leafKey.asymmetricKeyType !== 'ec' || curve !== o.asym.curve) {
    throw new SpdmError('BAD_CERTIFICATE', `leaf key is ${String(curve ?? leafKey.asymmetricKeyType)}, negotiated ${o.asym.name}`);
  }
  return { certs, leaf, leafKey };
}
