/** SPDM codecs against the byte layouts of DSP0274 1.2 / DSP0287 and round trips of every message. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashByName } from '../../src/spdm/algorithms.ts';
import { encodeCertChain, parseCertChain } from '../../src/spdm/cert-chain.ts';
import { encodeCertificate, encodeDigests, encodeGetCertificate, parseCertificate, parseDigests, parseGetCertificate } from '../../src/spdm/certificate-messages.ts';
import { encodeChallenge, encodeChallengeAuthUnsigned, parseChallenge, parseChallengeAuth } from '../../src/spdm/challenge-messages.ts';
import { encodeBlock, encodeRecord, parseRecord } from '../../src/spdm/measurement-block.ts';
import { encodeGetMeasurements, encodeMeasurementsUnsigned, parseGetMeasurements, parseMeasurements } from '../../src/spdm/measurement-messages.ts';
import { messageToSign, signingContext } from '../../src/spdm/signing.ts';
import { SpdmError } from '../../src/spdm/spdm-error.ts';
import { Transcript } from '../../src/spdm/transcript.ts';
import { encodeEmuPacket, encodeFrame, FrameDecoder } from '../../src/spdm/transport.ts';
import {
  encodeAlgorithms,
  encodeCapabilities,
  encodeGetCapabilities,
  encodeGetVersion,
  encodeNegotiateAlgorithms,
  encodeVersion,
  parseAlgorithms,
  parseCapabilities,
  parseGetCapabilities,
  parseNegotiateAlgorithms,
  parseVersion,
} from '../../src/spdm/vca-messages.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('SPDM wire layouts', () => {
  it('frames GET_VERSION for DSP0287 as libspdm does: 06 00 01 05 10 84 00 00', () => {
    assert.equal(hex(encodeFrame('tcp', encodeGetVersion())), '0600010510840000');
  });

  it("wraps it in spdm-emu's socket header: command 1, transport 3, size, big-endian", () => {
    assert.equal(hex(encodeFrame('emu', encodeGetVersion())), `00000001000000030000000806000105${'10840000'}`);
    assert.equal(hex(encodeEmuPacket(0xdead, Uint8Array.of(1))).slice(0, 24), '0000dead0000000300000001');
  });

  it('decodes frames split and coalesced at any byte', () => {
    const a = encodeFrame('tcp', encodeGetVersion());
    const b = encodeFrame('tcp', Uint8Array.of(0x12, 0x81, 0, 0));
    const all = Uint8Array.from([...a, ...b]);
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new FrameDecoder('tcp', 100);
      const got = [...d.push(all.slice(0, cut)), ...d.push(all.slice(cut))];
      assert.deepEqual(got.map((f) => (f.kind === 'spdm' ? hex(f.message) : f.kind)), ['10840000', '12810000']);
    }
  });

  it('refuses a frame header announcing more than the limit before reading its body', () => {
    const d = new FrameDecoder('tcp', 100);
    assert.throws(() => d.push(Uint8Array.of(0xff, 0x00)), (e: unknown) => e instanceof SpdmError && e.code === 'OVERSIZED');
  });

  it('builds the 1.2 signing context: "dmtf-spdm-v1.2.*" x4, zero pad, context string, 100 bytes', () => {
    const ctx = signingContext('responder-challenge_auth signing');
    assert.equal(ctx.length, 100);
    assert.equal(Buffer.from(ctx.slice(0, 64)).toString('latin1'), 'dmtf-spdm-v1.2.*'.repeat(4));
    assert.deepEqual([...ctx.slice(64, 68)], [0, 0, 0, 0]);
    assert.equal(Buffer.from(ctx.slice(68)).toString('latin1'), 'responder-challenge_auth signing');
    const m = signingContext('responder-measurements signing');
    assert.deepEqual([...m.slice(64, 70)], [0, 0, 0, 0, 0, 0]);
    const transcript = Uint8Array.of(1, 2, 3);
    const signed = messageToSign(hashByName('SHA_384'), 'responder-measurements signing', transcript);
    assert.equal(hex(signed.slice(100)), createHash('sha384').update(transcript).digest('hex'));
  });

  it('lays out the SPDM certificate chain: u16 length, u16 reserved, root hash, certificates', () => {
    const certs = [Uint8Array.of(0x30, 0x02, 0xaa, 0xbb), Uint8Array.of(0x30, 0x01, 0xcc)];
    const chain = encodeCertChain(hashByName('SHA_256'), certs);
    assert.equal(chain.length, 4 + 32 + 7);
    assert.deepEqual([...chain.slice(0, 4)], [43, 0, 0, 0]);
    assert.equal(hex(chain.slice(4, 36)), createHash('sha256').update(certs[0] ?? new Uint8Array()).digest('hex'));
    assert.deepEqual(parseCertChain(chain, hashByName('SHA_256')).certs.map(hex), certs.map(hex));
  });

  it('lays out a DMTF measurement block: index, spec 1, size, type|raw bit, value size, value', () => {
    assert.equal(hex(encodeBlock({ index: 2, valueType: 1, raw: true, value: Uint8Array.of(9, 8) })), '0201050081020009' + '08');
  });

  it('keeps transcripts apart: M1 = A|B|C, L1 = A|M', () => {
    const t = new Transcript();
    t.appendA(Uint8Array.of(1));
    t.appendB(Uint8Array.of(2));
    t.appendC(Uint8Array.of(3));
    t.appendM(Uint8Array.of(4));
    assert.deepEqual([...t.challengeTranscript()], [1, 2, 3]);
    assert.deepEqual([...t.measurementTranscript()], [1, 4]);
    t.resetB();
    t.resetM();
    assert.deepEqual([...t.challengeTranscript()], [1, 3]);
    assert.deepEqual([...t.measurementTranscript()], [1]);
  });
});

describe('SPDM message round trips', () => {
  it('VCA messages', () => {
    assert.deepEqual(parseVersion(encodeVersion({ entries: [0x1000, 0x1200] })), { entries: [0x1000, 0x1200] });
    const caps = { ctExponent: 20, flags: 0x36, dataTransferSize: 4096, maxSpdmMsgSize: 4096 };
    assert.deepEqual(parseGetCapabilities(encodeGetCapabilities(caps)), caps);
    assert.deepEqual(parseCapabilities(encodeCapabilities(caps)), caps);
    const neg = { measurementSpec: 1, otherParams: 2, baseAsym: 0x90, baseHash: 3, extAsymCount: 1, extHashCount: 0, tables: [{ type: 2, supported: 0x18 }, { type: 4, supported: 0x10 }] };
    assert.deepEqual(parseNegotiateAlgorithms(encodeNegotiateAlgorithms(neg)), neg);
    const alg = { measurementSpecSel: 1, otherParamsSel: 2, measurementHashAlgo: 2, baseAsymSel: 0x10, baseHashSel: 1, tables: [{ type: 5, supported: 0 }] };
    assert.deepEqual(parseAlgorithms(encodeAlgorithms(alg)), alg);
  });

  it('certificate messages', () => {
    const d = { slotMask: 0b101, digests: [new Uint8Array(48).fill(1), new Uint8Array(48).fill(2)] };
    assert.deepEqual(parseDigests(encodeDigests(d), 48), d);
    assert.throws(() => parseDigests(encodeDigests(d), 32), (e: unknown) => e instanceof SpdmError && e.code === 'OVERSIZED');
    assert.deepEqual(parseGetCertificate(encodeGetCertificate({ slot: 0, offset: 10, length: 1024 })), { slot: 0, offset: 10, length: 1024 });
    const c = { slot: 0, portion: Uint8Array.of(1, 2, 3), remainder: 7 };
    assert.deepEqual(parseCertificate(encodeCertificate(c)), c);
  });

  it('challenge messages', () => {
    const c = { slot: 0, summaryHashType: 0xff, nonce: new Uint8Array(32).fill(7) };
    assert.deepEqual(parseChallenge(encodeChallenge(c)), c);
    const unsigned = { slot: 0, slotMask: 1, certChainHash: new Uint8Array(32).fill(1), nonce: new Uint8Array(32).fill(2), summaryHash: new Uint8Array(0), opaque: Uint8Array.of(5) };
    const signature = new Uint8Array(64).fill(9);
    const bytes = Uint8Array.from([...encodeChallengeAuthUnsigned(unsigned), ...signature]);
    const { auth, signedPart } = parseChallengeAuth(bytes, { hashSize: 32, withSummary: false, signatureSize: 64 });
    assert.deepEqual(auth, { ...unsigned, signature });
    assert.equal(signedPart.length, bytes.length - 64);
  });

  it('measurement messages and records', () => {
    const blocks = [
      { index: 1, valueType: 0, raw: false, value: new Uint8Array(32).fill(3) },
      { index: 0xf0, valueType: 4, raw: true, value: Uint8Array.of(1, 2) },
    ];
    assert.deepEqual(parseRecord(encodeRecord(blocks), 2), blocks);
    const g = { attributes: 3, operation: 0xff, nonce: new Uint8Array(32).fill(4), slot: 0 };
    assert.deepEqual(parseGetMeasurements(encodeGetMeasurements(g)), g);
    assert.deepEqual(parseGetMeasurements(encodeGetMeasurements({ attributes: 0, operation: 0 })), { attributes: 0, operation: 0 });
    const m = { param1: 0, param2: 0, numberOfBlocks: 2, record: encodeRecord(blocks), nonce: new Uint8Array(32).fill(6), opaque: new Uint8Array(0) };
    const signature = new Uint8Array(96).fill(8);
    const parsed = parseMeasurements(Uint8Array.from([...encodeMeasurementsUnsigned(m), ...signature]), 96);
    assert.deepEqual(parsed.measurements, { ...m, signature });
  });
});
