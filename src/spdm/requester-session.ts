// The requester's side of each exchange of the attestation flow: build the request, send it, check
// every field of the response, keep the transcripts, verify chain and signatures. The order of the
// steps is the requester chart's (machines/spdm-requester.machine.ts); this file only does them.
import { type KeyObject, randomBytes, type X509Certificate } from 'node:crypto';
import type { SpdmRequesterStep, SpdmStepOutput } from '../../machines/spdm-requester.machine.ts';
import {
  type AsymAlgorithm,
  asymByBit,
  digest,
  type HashAlgorithm,
  hashByBaseBit,
  hashByMeasurementBit,
  MEASUREMENT_RAW_ONLY,
  oneHot,
  type SignerAlgorithm,
  splitSignerAlgorithm,
} from './algorithms.ts';
import { parseCertChain, verifyCertChain } from './cert-chain.ts';
import { encodeGetCertificate, encodeGetDigests, parseCertificate, parseDigests } from './certificate-messages.ts';
import { encodeChallenge, parseChallengeAuth } from './challenge-messages.ts';
import {
  CapFlag,
  errorCodeName,
  MAX_CERT_CHAIN_SIZE,
  MEASUREMENT_SPEC_DMTF,
  MeasAttr,
  MeasOp,
  NONCE_SIZE,
  OpaqueFormat,
  Rsp,
  SIGN_CONTEXT,
  SummaryHash,
  VERSION_10,
  VERSION_12,
} from './constants.ts';
import { type MeasurementBlock, parseRecord } from './measurement-block.ts';
import { encodeGetMeasurements, parseMeasurements } from './measurement-messages.ts';
import { parseError, parseHeader } from './message-header.ts';
import type { RequesterConnection } from './requester-connection.ts';
import { verifySpdmSignature } from './signing.ts';
import { SpdmError } from './spdm-error.ts';
import { Transcript } from './transcript.ts';
import {
  encodeGetCapabilities,
  encodeGetVersion,
  encodeNegotiateAlgorithms,
  parseAlgorithms,
  parseCapabilities,
  parseVersion,
  versionByte,
} from './vca-messages.ts';
import { MAX_FRAME_MESSAGE } from './transport.ts';

/** What a successful attestation reports (the shared interface's SpdmAttestReport). */
export interface SpdmAttestReport {
  /** The negotiated SPDM version, "1.2". */
  readonly version: string;
  readonly algorithms: { readonly baseAsym: string; readonly baseHash: string; readonly measurementHash: string };
  /** The verified chain as PEM, root first. */
  readonly certificateChain: readonly string[];
  readonly measurements: ReadonlyArray<{ readonly index: number; readonly valueType: number; readonly raw: boolean; readonly value: string }>;
}

/** The largest GET_CERTIFICATE portion we ask for (less if the responder's DataTransferSize is smaller): one round trip for most chains. */
const CERT_CHUNK = 0xffff;

/** Parameters of one requester session. */
export interface RequesterSessionOptions {
  readonly conn: RequesterConnection;
  readonly roots: readonly Uint8Array[];
  /** Signature algorithms offered (default both). */
  readonly algorithms?: readonly SignerAlgorithm[];
}

interface Negotiated {
  readonly asym: AsymAlgorithm;
  readonly hash: HashAlgorithm;
  /** undefined: raw bit streams only. */
  readonly measurementHash: HashAlgorithm | undefined;
}

/** One attestation's state: transcripts, negotiated algorithms, the chain, the measurements. */
export class RequesterSession {
  private readonly transcript = new Transcript();
  private negotiated: Negotiated | undefined;
  private peerTransferSize = 0;
  private slot0Digest: Uint8Array | undefined;
  private chain = new Uint8Array(0);
  private chainTotal: number | undefined;
  private chainDigest: Uint8Array | undefined;
  private verifiedCerts: readonly X509Certificate[] = [];
  private verifiedLeafKey: KeyObject | undefined;
  private blocks: MeasurementBlock[] = [];

  constructor(private readonly o: RequesterSessionOptions) {}

  /** Runs one step of the chart. */
  async run(step: SpdmRequesterStep): Promise<SpdmStepOutput> {
    switch (step) {
      case 'version':
        return this.version();
      case 'capabilities':
        return this.capabilities();
      case 'algorithms':
        return this.algorithms();
      case 'digests':
        return this.digests();
      case 'certificate':
        return this.certificate();
      case 'challenge':
        return this.challenge();
      case 'measurements':
        return this.measurements();
    }
  }

  private get algs(): Negotiated {
    if (!this.negotiated) throw new SpdmError('UNEXPECTED_RESPONSE', 'algorithms are not negotiated yet');
    return this.negotiated;
  }

  /** Sends `request`, returns the response after checking its code and version; ERROR becomes PEER_ERROR. */
  private async ask(request: Uint8Array, expect: number, version: number, what: string): Promise<Uint8Array> {
    const rsp = await this.o.conn.exchange(request, what);
    const h = parseHeader(rsp);
    if (h.code === Rsp.ERROR) {
      const e = parseError(rsp);
      throw new SpdmError('PEER_ERROR', `${what}: responder answered ERROR ${errorCodeName(e.errorCode)} (data 0x${e.errorData.toString(16)})`);
    }
    if (h.code !== expect) {
      throw new SpdmError('UNEXPECTED_RESPONSE', `${what}: response code 0x${h.code.toString(16)}, expected 0x${expect.toString(16)}`);
    }
    if (h.version !== version) {
      throw new SpdmError('VERSION_MISMATCH', `${what}: response version 0x${h.version.toString(16)}, expected 0x${version.toString(16)}`);
    }
    return rsp;
  }

  private async version(): Promise<SpdmStepOutput> {
    this.transcript.reset();
    const req = encodeGetVersion();
    const rsp = await this.ask(req, Rsp.VERSION, VERSION_10, 'GET_VERSION');
    const v = parseVersion(rsp);
    if (!v.entries.some((e) => versionByte(e) === VERSION_12)) {
      const offered = v.entries.map((e) => `${(e >> 12) & 0xf}.${(e >> 8) & 0xf}`).join(', ');
      throw new SpdmError('VERSION_MISMATCH', `responder offers SPDM ${offered}; this requester speaks 1.2`);
    }
    this.transcript.appendA(req, rsp);
    return { more: false };
  }

  private async capabilities(): Promise<SpdmStepOutput> {
    const req = encodeGetCapabilities({ ctExponent: 0, flags: 0, dataTransferSize: MAX_FRAME_MESSAGE, maxSpdmMsgSize: MAX_FRAME_MESSAGE });
    const rsp = await this.ask(req, Rsp.CAPABILITIES, VERSION_12, 'GET_CAPABILITIES');
    const caps = parseCapabilities(rsp);
    const missing = [
      [CapFlag.CERT, 'CERT_CAP'],
      [CapFlag.CHAL, 'CHAL_CAP'],
      [CapFlag.MEAS_SIG, 'MEAS_CAP (signed)'],
    ]
      .filter(([bit]) => (caps.flags & Number(bit)) === 0)
      .map(([, name]) => name);
    if (missing.length) throw new SpdmError('NEGOTIATION_FAILED', `responder lacks ${missing.join(', ')}`);
    this.peerTransferSize = caps.dataTransferSize;
    this.transcript.appendA(req, rsp);
    return { more: false };
  }

  private async algorithms(): Promise<SpdmStepOutput> {
    const offered = (this.o.algorithms ?? ['ECDSA_P256_SHA256', 'ECDSA_P384_SHA384']).map(splitSignerAlgorithm);
    const baseAsym = offered.reduce((m, a) => m | a.asym.bit, 0);
    const baseHash = offered.reduce((m, a) => m | a.hash.baseBit, 0);
    const req = encodeNegotiateAlgorithms({
      measurementSpec: MEASUREMENT_SPEC_DMTF,
      otherParams: OpaqueFormat.FORMAT1,
      baseAsym,
      baseHash,
      extAsymCount: 0,
      extHashCount: 0,
      tables: [],
    });
    const rsp = await this.ask(req, Rsp.ALGORITHMS, VERSION_12, 'NEGOTIATE_ALGORITHMS');
    const a = parseAlgorithms(rsp);
    const asym = oneHot(a.baseAsymSel) && (a.baseAsymSel & baseAsym) !== 0 ? asymByBit(a.baseAsymSel) : undefined;
    const hash = oneHot(a.baseHashSel) && (a.baseHashSel & baseHash) !== 0 ? hashByBaseBit(a.baseHashSel) : undefined;
    if (!asym) throw new SpdmError('NEGOTIATION_FAILED', `responder selected BaseAsymAlgo 0x${a.baseAsymSel.toString(16)}, offered 0x${baseAsym.toString(16)}`);
    if (!hash) throw new SpdmError('NEGOTIATION_FAILED', `responder selected BaseHashAlgo 0x${a.baseHashSel.toString(16)}, offered 0x${baseHash.toString(16)}`);
    if (a.measurementSpecSel !== MEASUREMENT_SPEC_DMTF) throw new SpdmError('NEGOTIATION_FAILED', 'responder did not select the DMTF measurement specification');
    if (!oneHot(a.otherParamsSel & OpaqueFormat.MASK, true)) throw new SpdmError('MALFORMED', 'ALGORITHMS: more than one opaque data format selected');
    let measurementHash: HashAlgorithm | undefined;
    if (a.measurementHashAlgo !== MEASUREMENT_RAW_ONLY) {
      measurementHash = oneHot(a.measurementHashAlgo) ? hashByMeasurementBit(a.measurementHashAlgo) : undefined;
      if (!measurementHash) throw new SpdmError('NEGOTIATION_FAILED', `unsupported MeasurementHashAlgo 0x${a.measurementHashAlgo.toString(16)}`);
    }
    this.negotiated = { asym, hash, measurementHash };
    this.transcript.appendA(req, rsp);
    return { more: false };
  }

  private async digests(): Promise<SpdmStepOutput> {
    this.transcript.resetM();
    const req = encodeGetDigests();
    const rsp = await this.ask(req, Rsp.DIGESTS, VERSION_12, 'GET_DIGESTS');
    const d = parseDigests(rsp, this.algs.hash.size);
    if ((d.slotMask & 1) === 0) throw new SpdmError('BAD_CERTIFICATE', 'responder has no certificate chain in slot 0');
    this.slot0Digest = d.digests[0];
    this.transcript.resetB();
    this.transcript.appendB(req, rsp);
    return { more: false };
  }

  private async certificate(): Promise<SpdmStepOutput> {
    this.transcript.resetM();
    const offset = this.chain.length;
    const room = Math.min(CERT_CHUNK, this.peerTransferSize - 8);
    const length = this.chainTotal === undefined ? room : Math.min(room, this.chainTotal - offset);
    const req = encodeGetCertificate({ slot: 0, offset, length });
    const rsp = await this.ask(req, Rsp.CERTIFICATE, VERSION_12, 'GET_CERTIFICATE');
    const c = parseCertificate(rsp);
    if (c.slot !== 0) throw new SpdmError('MALFORMED', `CERTIFICATE: slot ${c.slot}, asked for 0`);
    if (c.portion.length > length) throw new SpdmError('OVERSIZED', `CERTIFICATE: ${c.portion.length} bytes, asked for ${length}`);
    if (c.portion.length === 0 && c.remainder > 0) throw new SpdmError('MALFORMED', 'CERTIFICATE: empty portion with more remaining');
    const total = offset + c.portion.length + c.remainder;
    if (total > MAX_CERT_CHAIN_SIZE) throw new SpdmError('OVERSIZED', `certificate chain of ${total} bytes`);
    if (this.chainTotal !== undefined && total !== this.chainTotal) {
      throw new SpdmError('MALFORMED', `CERTIFICATE: chain length changed from ${this.chainTotal} to ${total}`);
    }
    this.chainTotal = total;
    const joined = new Uint8Array(offset + c.portion.length);
    joined.set(this.chain);
    joined.set(c.portion, offset);
    this.chain = joined;
    this.transcript.appendB(req, rsp);
    if (c.remainder > 0) return { more: true };
    this.verifyChain();
    return { more: false };
  }

  private verifyChain(): void {
    const { hash, asym } = this.algs;
    const expected = this.slot0Digest;
    this.chainDigest = digest(hash, this.chain);
    if (!expected || !Buffer.from(this.chainDigest).equals(expected)) {
      throw new SpdmError('DIGEST_MISMATCH', 'the certificate chain read does not match its digest in DIGESTS');
    }
    const parsed = parseCertChain(this.chain, hash);
    const verified = verifyCertChain({ chain: parsed, hash, asym, roots: this.o.roots });
    this.verifiedCerts = verified.certs;
    this.verifiedLeafKey = verified.leafKey;
  }

  private leafKey(): KeyObject {
    if (!this.verifiedLeafKey) throw new SpdmError('UNTRUSTED_CHAIN', 'no verified certificate chain');
    return this.verifiedLeafKey;
  }

  private async challenge(): Promise<SpdmStepOutput> {
    this.transcript.resetM();
    const { hash, asym } = this.algs;
    const nonce = new Uint8Array(randomBytes(NONCE_SIZE));
    const req = encodeChallenge({ slot: 0, summaryHashType: SummaryHash.NONE, nonce });
    const rsp = await this.ask(req, Rsp.CHALLENGE_AUTH, VERSION_12, 'CHALLENGE');
    const { auth, signedPart } = parseChallengeAuth(rsp, { hashSize: hash.size, withSummary: false, signatureSize: asym.signatureSize });
    if (auth.slot !== 0) throw new SpdmError('MALFORMED', `CHALLENGE_AUTH: slot ${auth.slot}, challenged 0`);
    if ((auth.slotMask & 1) === 0) throw new SpdmError('MALFORMED', 'CHALLENGE_AUTH: slot mask without slot 0');
    if (!this.chainDigest || !Buffer.from(auth.certChainHash).equals(this.chainDigest)) {
      throw new SpdmError('CHAIN_HASH_MISMATCH', 'CHALLENGE_AUTH names another certificate chain than the one verified');
    }
    this.transcript.resetC();
    this.transcript.appendC(req, signedPart);
    verifySpdmSignature({
      key: this.leafKey(),
      hash,
      context: SIGN_CONTEXT.challengeAuth,
      transcript: this.transcript.challengeTranscript(),
      signature: auth.signature,
      what: 'CHALLENGE_AUTH',
    });
    this.transcript.resetB();
    this.transcript.resetC();
    return { more: false };
  }

  private async measurements(): Promise<SpdmStepOutput> {
    const { hash, asym, measurementHash } = this.algs;
    const nonce = new Uint8Array(randomBytes(NONCE_SIZE));
    const req = encodeGetMeasurements({
      attributes: MeasAttr.SIGNATURE | MeasAttr.RAW_BIT_STREAM,
      operation: MeasOp.ALL,
      nonce,
      slot: 0,
    });
    const rsp = await this.ask(req, Rsp.MEASUREMENTS, VERSION_12, 'GET_MEASUREMENTS');
    const { measurements: m, signedPart } = parseMeasurements(rsp, asym.signatureSize);
    if ((m.param2 & 0xf) !== 0) throw new SpdmError('MALFORMED', `MEASUREMENTS: slot ${m.param2 & 0xf}, asked for 0`);
    const blocks = parseRecord(m.record, m.numberOfBlocks);
    for (const b of blocks) {
      if (!b.raw && b.value.length !== (measurementHash?.size ?? -1)) {
        throw new SpdmError('MALFORMED', `measurement ${b.index}: digest of ${b.value.length} bytes, measurement hash gives ${measurementHash?.size ?? 0}`);
      }
    }
    this.transcript.appendM(req, signedPart);
    verifySpdmSignature({
      key: this.leafKey(),
      hash,
      context: SIGN_CONTEXT.measurements,
      transcript: this.transcript.measurementTranscript(),
      signature: m.signature,
      what: 'MEASUREMENTS',
    });
    this.transcript.resetM();
    this.blocks = blocks;
    return { more: false };
  }

  /** The report, once the chart reached Verified. */
  report(): SpdmAttestReport {
    const { asym, hash, measurementHash } = this.algs;
    return {
      version: '1.2',
      algorithms: { baseAsym: asym.name, baseHash: hash.name, measurementHash: measurementHash?.name ?? 'RAW_BIT_STREAM_ONLY' },
      certificateChain: this.verifiedCerts.map((c) => c.toString()),
      measurements: this.blocks.map((b) => ({ index: b.index, valueType: b.valueType, raw: b.raw, value: Buffer.from(b.value).toString('hex') })),
    };
  }
}
