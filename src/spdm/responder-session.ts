// One responder connection's protocol: which request is acceptable now (the responder chart),
// parsing it strictly, answering it or answering ERROR, and keeping the transcripts the requester
// will verify our signatures over.
import { randomBytes } from 'node:crypto';
import { initialTransition, type SnapshotFrom, transition } from 'xstate';
import { type SpdmResponderEvent, spdmResponderMachine } from '../../machines/spdm-responder.machine.ts';
import { type AsymAlgorithm, digest, type HashAlgorithm, hashByName, type HashName, splitSignerAlgorithm } from './algorithms.ts';
import { ByteWriter, concatBytes } from './byte-reader.ts';
import { encodeCertChain } from './cert-chain.ts';
import { encodeCertificate, encodeDigests, parseGetCertificate, parseGetDigests } from './certificate-messages.ts';
import { encodeChallengeAuthUnsigned, parseChallenge } from './challenge-messages.ts';
import {
  CapFlag,
  ErrorCode,
  MEASUREMENT_SPEC_DMTF,
  MeasAttr,
  MeasOp,
  NONCE_SIZE,
  OpaqueFormat,
  Req,
  SIGN_CONTEXT,
  SummaryHash,
  VERSION_10,
  VERSION_12,
} from './constants.ts';
import { encodeBlock, type MeasurementBlock, MAX_MEASUREMENT_VALUE } from './measurement-block.ts';
import { encodeMeasurementsUnsigned, parseGetMeasurements } from './measurement-messages.ts';
import { encodeError, parseHeader } from './message-header.ts';
import { checkRequesterCapabilities } from './requester-capabilities.ts';
import { messageToSign, type SpdmSigner } from './signing.ts';
import { isSpdmError } from './spdm-error.ts';
import { Transcript } from './transcript.ts';
import {
  encodeAlgorithms,
  encodeCapabilities,
  encodeVersion,
  parseGetCapabilities,
  parseGetVersion,
  parseNegotiateAlgorithms,
} from './vca-messages.ts';
import { errorMessage } from '../util/error-message.ts';

/** The largest request (and DataTransferSize/MaxSPDMmsgSize) this responder accepts. */
export const RESPONDER_MAX_MESSAGE = 4096;
/**
 * Signed responses (CHALLENGE_AUTH, signed MEASUREMENTS) one connection gets unless told otherwise:
 * an attestation takes two (a re-attestation opens a new connection), so two spare.
 */
export const DEFAULT_SPDM_MAX_SIGNATURES = 4;
/** CTExponent advertised: 2^20 µs (about 1 s) covers a token signature. */
const CT_EXPONENT = 20;
const RESPONDER_FLAGS = CapFlag.CERT | CapFlag.CHAL | CapFlag.MEAS_SIG | CapFlag.MEAS_FRESH;
/** BaseHashAlgo choices besides the signer's own, for a signer that can sign with another hash (what our requester verifies). */
const OTHER_BASE_HASHES: readonly HashName[] = ['SHA_384', 'SHA_256'];

/** What every connection of a responder shares: identity, chain, measurements. */
export interface ResponderIdentity {
  readonly signer: SpdmSigner;
  /** DER, root first … device leaf last (slot 0). */
  readonly certificateChain: readonly Uint8Array[];
  /** Read fresh for every GET_MEASUREMENTS (and CHALLENGE with a summary hash). */
  readonly measurements: () => Promise<MeasurementBlock[]>;
  /** MeasurementHashAlgo selected; digest blocks (raw: false) must use it. Default SHA_256. */
  readonly measurementHash?: HashName;
  /** Signed responses one connection may get (each costs an identity-key signature); default DEFAULT_SPDM_MAX_SIGNATURES. */
  readonly maxSignatures?: number;
}

/** The answer to one request, and what it means for the connection. */
export interface ResponderReply {
  readonly response: Uint8Array;
  /** Set when the request was refused: why (for the log and onSession). */
  readonly refused?: string;
  /** True when this reply carried signed measurements (the requester's flow is complete). */
  readonly signedMeasurements?: boolean;
  /** True when the connection must close once this reply is sent (it used up its signatures). */
  readonly closeConnection?: boolean;
}

const EVENT_OF: Record<number, SpdmResponderEvent['type']> = {
  [Req.GET_VERSION]: 'GET_VERSION',
  [Req.GET_CAPABILITIES]: 'GET_CAPABILITIES',
  [Req.NEGOTIATE_ALGORITHMS]: 'NEGOTIATE_ALGORITHMS',
  [Req.GET_DIGESTS]: 'GET_DIGESTS',
  [Req.GET_CERTIFICATE]: 'GET_CERTIFICATE',
  [Req.CHALLENGE]: 'CHALLENGE',
  [Req.GET_MEASUREMENTS]: 'GET_MEASUREMENTS',
};

type ResponderSnapshot = SnapshotFrom<typeof spdmResponderMachine>;

/** One snapshot per chart state, so that the transition table below can be keyed by identity. */
const canonical = new Map<string, ResponderSnapshot>();
function canon(s: ResponderSnapshot): ResponderSnapshot {
  const key = JSON.stringify(s.value);
  const known = canonical.get(key);
  if (known) return known;
  canonical.set(key, s);
  return s;
}
const INITIAL = canon(initialTransition(spdmResponderMachine)[0]);
/** The chart's answers, computed with xstate's pure transition() once per (state, request) and kept: null = not acceptable. */
const table = new Map<ResponderSnapshot, Map<SpdmResponderEvent['type'], ResponderSnapshot | null>>();
function next(from: ResponderSnapshot, type: SpdmResponderEvent['type']): ResponderSnapshot | null {
  let row = table.get(from);
  if (!row) {
    row = new Map();
    table.set(from, row);
  }
  let to = row.get(type);
  if (to === undefined) {
    const event = { type } as SpdmResponderEvent;
    to = from.can(event) ? canon(transition(spdmResponderMachine, from, event)[0]) : null;
    row.set(type, to);
  }
  return to;
}

/** The SPDM chain structure and its digest, built once per certificate list (every connection serves the same). */
const chains = new WeakMap<readonly Uint8Array[], Map<HashName, { chain: Uint8Array; digest: Uint8Array }>>();
function slotChain(certs: readonly Uint8Array[], hash: HashAlgorithm): { chain: Uint8Array; digest: Uint8Array } {
  let byHash = chains.get(certs);
  if (!byHash) {
    byHash = new Map();
    chains.set(certs, byHash);
  }
  let entry = byHash.get(hash.name);
  if (!entry) {
    const chain = encodeCertChain(hash, certs);
    entry = { chain, digest: digest(hash, chain) };
    byHash.set(hash.name, entry);
  }
  return entry;
}

/** An ERROR to send back (thrown inside a handler). */
class Refusal extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
    readonly errorData = 0,
    readonly extended: Uint8Array = new Uint8Array(0),
  ) {
    super(message);
  }
}

/** The request for one signature more than a connection may get: ERROR, then the connection closes. */
class SignatureLimit extends Refusal {}

function u32le(v: number): Uint8Array {
  return new ByteWriter().u32(v).finish();
}

/** One connection's responder state. */
export class ResponderSession {
  private snapshot: ResponderSnapshot = INITIAL;
  private readonly transcript = new Transcript();
  private readonly asym: AsymAlgorithm;
  /** The signer's own hash; the negotiated one (`hash`) may differ when the signer can sign with others. */
  private readonly signerHash: HashAlgorithm;
  private hash: HashAlgorithm;
  private readonly measurementHash: HashAlgorithm;
  private chain: Uint8Array;
  private chainDigest: Uint8Array;
  private peerTransferSize = RESPONDER_MAX_MESSAGE;
  private measurementSpec = 0;
  /** Signed responses this connection was given (or is being given). */
  private signatures = 0;

  constructor(private readonly id: ResponderIdentity) {
    const { asym, hash } = splitSignerAlgorithm(id.signer.algorithm);
    this.asym = asym;
    this.signerHash = hash;
    this.hash = hash;
    this.measurementHash = hashByName(id.measurementHash ?? 'SHA_256');
    ({ chain: this.chain, digest: this.chainDigest } = slotChain(id.certificateChain, hash));
  }

  /** Selects the BaseHashAlgo (and with it the slot-0 chain's digest) for this connection. */
  private useHash(hash: HashAlgorithm): void {
    this.hash = hash;
    ({ chain: this.chain, digest: this.chainDigest } = slotChain(this.id.certificateChain, hash));
  }

  /**
   * The SPDMVersion of an ERROR answering `request`: 1.0 until a version is agreed (DSP0274: the
   * version is settled by GET_CAPABILITIES), except for a GET_CAPABILITIES of version 1.2 itself,
   * which agrees on 1.2 even when it is refused for its contents.
   */
  private errorVersion(request: Uint8Array): number {
    if (request[1] === Req.GET_VERSION || this.snapshot.matches('AwaitingVersion')) return VERSION_10;
    if (this.snapshot.matches('AwaitingCapabilities')) {
      return request[1] === Req.GET_CAPABILITIES && request[0] === VERSION_12 ? VERSION_12 : VERSION_10;
    }
    return VERSION_12;
  }

  /** The chart state, for tests and logs. */
  get state(): unknown {
    return this.snapshot.value;
  }

  /** Answers one request; never throws (anything wrong becomes an ERROR response). */
  async handle(request: Uint8Array): Promise<ResponderReply> {
    const version = this.errorVersion(request);
    try {
      if (request.length < 4) throw new Refusal(ErrorCode.INVALID_REQUEST, `request of ${request.length} bytes is shorter than a header`);
      const h = parseHeader(request);
      const type = EVENT_OF[h.code];
      if (h.code !== Req.GET_MEASUREMENTS) this.transcript.resetM();
      if (!type) throw new Refusal(ErrorCode.UNSUPPORTED_REQUEST, `unsupported request code 0x${h.code.toString(16)}`, h.code);
      const expectedVersion = type === 'GET_VERSION' ? VERSION_10 : VERSION_12;
      if (h.version !== expectedVersion) {
        throw new Refusal(ErrorCode.VERSION_MISMATCH, `${type} with version 0x${h.version.toString(16)}, expected 0x${expectedVersion.toString(16)}`);
      }
      const to = next(this.snapshot, type);
      if (!to) throw new Refusal(ErrorCode.UNEXPECTED_REQUEST, `${type} is not expected in state ${JSON.stringify(this.snapshot.value)}`);
      const reply = await this.dispatch(type, request);
      this.snapshot = to;
      return reply;
    } catch (err) {
      if (request[1] === Req.GET_MEASUREMENTS) this.transcript.resetM();
      if (err instanceof Refusal) {
        return {
          response: encodeError({ version, errorCode: err.errorCode, errorData: err.errorData, extended: err.extended }),
          refused: err.message,
          ...(err instanceof SignatureLimit ? { closeConnection: true } : {}),
        };
      }
      if (isSpdmError(err)) {
        return { response: encodeError({ version, errorCode: ErrorCode.INVALID_REQUEST, errorData: 0, extended: new Uint8Array(0) }), refused: err.message };
      }
      return {
        response: encodeError({ version, errorCode: ErrorCode.UNSPECIFIED, errorData: 0, extended: new Uint8Array(0) }),
        refused: `internal: ${errorMessage(err)}`,
      };
    }
  }

  private dispatch(type: SpdmResponderEvent['type'], req: Uint8Array): Promise<ResponderReply> | ResponderReply {
    switch (type) {
      case 'GET_VERSION':
        return this.version(req);
      case 'GET_CAPABILITIES':
        return this.capabilities(req);
      case 'NEGOTIATE_ALGORITHMS':
        return this.algorithms(req);
      case 'GET_DIGESTS':
        return this.digests(req);
      case 'GET_CERTIFICATE':
        return this.certificate(req);
      case 'CHALLENGE':
        return this.challenge(req);
      case 'GET_MEASUREMENTS':
        return this.measurements(req);
    }
  }

  /** Refuses a response the requester said it cannot receive (no chunking here). */
  private fits(rsp: Uint8Array): Uint8Array {
    if (rsp.length > this.peerTransferSize) {
      throw new Refusal(ErrorCode.RESPONSE_TOO_LARGE, `response of ${rsp.length} bytes exceeds the requester's DataTransferSize`, 0, u32le(rsp.length));
    }
    return rsp;
  }

  private version(req: Uint8Array): ResponderReply {
    parseGetVersion(req);
    this.transcript.reset();
    this.peerTransferSize = RESPONDER_MAX_MESSAGE;
    this.useHash(this.signerHash);
    const rsp = encodeVersion({ entries: [0x1200] });
    this.transcript.appendA(req, rsp);
    return { response: rsp };
  }

  private capabilities(req: Uint8Array): ResponderReply {
    const caps = parseGetCapabilities(req);
    checkRequesterCapabilities(caps);
    const rsp = encodeCapabilities({
      ctExponent: CT_EXPONENT,
      flags: RESPONDER_FLAGS,
      dataTransferSize: RESPONDER_MAX_MESSAGE,
      maxSpdmMsgSize: RESPONDER_MAX_MESSAGE,
    });
    this.peerTransferSize = caps.dataTransferSize;
    this.transcript.appendA(req, rsp);
    return { response: rsp };
  }

  private algorithms(req: Uint8Array): ResponderReply {
    const n = parseNegotiateAlgorithms(req);
    const asym = this.asym;
    const candidates = [this.signerHash, ...(this.id.signer.signWithHash ? OTHER_BASE_HASHES.filter((h) => h !== this.signerHash.name).map(hashByName) : [])];
    const hash = candidates.find((h) => (n.baseHash & h.baseBit) !== 0);
    if ((n.baseAsym & asym.bit) === 0 || !hash) {
      const hashes = candidates.map((h) => h.name).join(' or ');
      throw new Refusal(ErrorCode.INVALID_REQUEST, `requester does not offer ${asym.name} with ${hashes} (BaseAsymAlgo 0x${n.baseAsym.toString(16)}, BaseHashAlgo 0x${n.baseHash.toString(16)})`);
    }
    this.useHash(hash);
    this.measurementSpec = n.measurementSpec & MEASUREMENT_SPEC_DMTF;
    const opaque = n.otherParams & OpaqueFormat.FORMAT1 ? OpaqueFormat.FORMAT1 : n.otherParams & OpaqueFormat.FORMAT0 ? OpaqueFormat.FORMAT0 : OpaqueFormat.NONE;
    const rsp = this.fits(
      encodeAlgorithms({
        measurementSpecSel: this.measurementSpec,
        otherParamsSel: opaque,
        measurementHashAlgo: this.measurementSpec ? this.measurementHash.measurementBit : 0,
        baseAsymSel: asym.bit,
        baseHashSel: hash.baseBit,
        tables: n.tables.map((t) => ({ type: t.type, supported: 0 })),
      }),
    );
    this.transcript.appendA(req, rsp);
    return { response: rsp };
  }

  private digests(req: Uint8Array): ResponderReply {
    parseGetDigests(req);
    const rsp = this.fits(encodeDigests({ slotMask: 1, digests: [this.chainDigest] }));
    this.transcript.resetB();
    this.transcript.appendB(req, rsp);
    return { response: rsp };
  }

  private certificate(req: Uint8Array): ResponderReply {
    const g = parseGetCertificate(req);
    if (g.slot !== 0) throw new Refusal(ErrorCode.INVALID_REQUEST, `GET_CERTIFICATE for empty slot ${g.slot}`);
    if (g.offset >= this.chain.length) throw new Refusal(ErrorCode.INVALID_REQUEST, `GET_CERTIFICATE offset ${g.offset} beyond the chain (${this.chain.length} bytes)`);
    const length = Math.min(g.length, this.chain.length - g.offset, this.peerTransferSize - 8, RESPONDER_MAX_MESSAGE - 8);
    const portion = this.chain.slice(g.offset, g.offset + length);
    const rsp = this.fits(encodeCertificate({ slot: 0, portion, remainder: this.chain.length - g.offset - length }));
    this.transcript.appendB(req, rsp);
    return { response: rsp };
  }

  /** The blocks as provided, checked: indices 1..254, unique, values that fit. */
  private async readBlocks(): Promise<MeasurementBlock[]> {
    const blocks = await this.id.measurements();
    const seen = new Set<number>();
    for (const b of blocks) {
      if (!Number.isInteger(b.index) || b.index < 1 || b.index > 0xfe || seen.has(b.index)) throw new Error(`measurement index ${b.index} invalid or repeated`);
      if (!Number.isInteger(b.valueType) || b.valueType < 0 || b.valueType > 0x7f) throw new Error(`measurement ${b.index}: value type ${b.valueType}`);
      if (!(b.value instanceof Uint8Array) || b.value.length > MAX_MEASUREMENT_VALUE) throw new Error(`measurement ${b.index} missing or too large`);
      if (!b.raw && b.value.length !== this.measurementHash.size) {
        throw new Error(`measurement ${b.index}: a digest block must hold a ${this.measurementHash.name} digest`);
      }
      seen.add(b.index);
    }
    return [...blocks].sort((x, y) => x.index - y.index);
  }

  /** A block as served: raw values become their digest unless raw bit streams were requested. */
  private served(b: MeasurementBlock, rawRequested: boolean): MeasurementBlock {
    if (!b.raw || rawRequested) return b;
    return { index: b.index, valueType: b.valueType, raw: false, value: digest(this.measurementHash, b.value) };
  }

  /** Counts one signature for this connection, or refuses it before any work when they are used up. */
  private claimSignature(what: string): void {
    const max = this.id.maxSignatures ?? DEFAULT_SPDM_MAX_SIGNATURES;
    if (this.signatures >= max) throw new SignatureLimit(ErrorCode.UNSPECIFIED, `${what}: more than ${max} signed responses asked for on one connection`);
    this.signatures += 1;
  }

  private async challenge(req: Uint8Array): Promise<ResponderReply> {
    const c = parseChallenge(req);
    if (c.slot !== 0) throw new Refusal(ErrorCode.INVALID_REQUEST, `CHALLENGE for empty slot ${c.slot}`);
    this.claimSignature('CHALLENGE');
    let summaryHash: Uint8Array = new Uint8Array(0);
    if (c.summaryHashType !== SummaryHash.NONE) {
      if (!this.measurementSpec) throw new Refusal(ErrorCode.INVALID_REQUEST, 'measurement summary asked for without a measurement specification');
      const blocks = (await this.readBlocks())
        .map((b) => this.served(b, false))
        .filter((b) => c.summaryHashType === SummaryHash.ALL || b.valueType === 0);
      summaryHash = digest(this.hash, concatBytes(blocks.map(encodeBlock)));
    }
    const unsigned = encodeChallengeAuthUnsigned({
      slot: 0,
      slotMask: 1,
      certChainHash: this.chainDigest,
      nonce: new Uint8Array(randomBytes(NONCE_SIZE)),
      summaryHash,
      opaque: new Uint8Array(0),
    });
    const { asym } = this;
    if (unsigned.length + asym.signatureSize > this.peerTransferSize) this.fits(new Uint8Array(unsigned.length + asym.signatureSize));
    this.transcript.resetC();
    this.transcript.appendC(req, unsigned);
    const signature = await this.sign(SIGN_CONTEXT.challengeAuth, this.transcript.challengeTranscript());
    this.transcript.resetB();
    this.transcript.resetC();
    return { response: concatBytes([unsigned, signature]) };
  }

  private async sign(context: string, transcript: Uint8Array): Promise<Uint8Array> {
    const { asym, hash } = this;
    const message = messageToSign(hash, context, transcript);
    const { signer } = this.id;
    const sig = hash === this.signerHash || !signer.signWithHash ? await signer.sign(message) : await signer.signWithHash(hash.name, message);
    if (sig.length !== asym.signatureSize) throw new Error(`signer returned ${sig.length} bytes, ${asym.name} needs ${asym.signatureSize}`);
    return sig;
  }

  private async measurements(req: Uint8Array): Promise<ResponderReply> {
    const g = parseGetMeasurements(req);
    if (!this.measurementSpec) throw new Refusal(ErrorCode.UNEXPECTED_REQUEST, 'GET_MEASUREMENTS without a negotiated measurement specification');
    const signed = (g.attributes & MeasAttr.SIGNATURE) !== 0;
    if (signed && g.slot !== 0) throw new Refusal(ErrorCode.INVALID_REQUEST, `GET_MEASUREMENTS signed with empty slot ${String(g.slot)}`);
    if (signed) this.claimSignature('GET_MEASUREMENTS');
    if (!this.snapshot.matches({ Negotiated: 'Authenticated' })) {
      this.transcript.resetB();
      this.transcript.resetC();
    }
    const raw = (g.attributes & MeasAttr.RAW_BIT_STREAM) !== 0;
    const blocks = await this.readBlocks();
    let chosen: MeasurementBlock[] = [];
    let param1 = 0;
    if (g.operation === MeasOp.COUNT) {
      param1 = blocks.length;
    } else if (g.operation === MeasOp.ALL) {
      chosen = blocks.map((b) => this.served(b, raw));
    } else {
      const b = blocks.find((x) => x.index === g.operation);
      if (!b) throw new Refusal(ErrorCode.INVALID_REQUEST, `no measurement with index ${g.operation}`);
      chosen = [this.served(b, raw)];
    }
    const unsigned = encodeMeasurementsUnsigned({
      param1,
      param2: 0,
      numberOfBlocks: chosen.length,
      record: concatBytes(chosen.map(encodeBlock)),
      nonce: new Uint8Array(randomBytes(NONCE_SIZE)),
      opaque: new Uint8Array(0),
    });
    const { asym } = this;
    this.fits(new Uint8Array(unsigned.length + (signed ? asym.signatureSize : 0)));
    this.transcript.appendM(req, unsigned);
    if (!signed) return { response: unsigned };
    const signature = await this.sign(SIGN_CONTEXT.measurements, this.transcript.measurementTranscript());
    this.transcript.resetM();
    return { response: concatBytes([unsigned, signature]), signedMeasurements: true };
  }
}
