/**
 * Property-based fuzzing (fast-check) of every SPDM parser, 10,000 inputs each: random bytes and
 * mutations (truncated, extended, bit-flipped, overwritten) of valid messages. A parser either
 * returns a value or throws an SpdmError (TRUNCATED, OVERSIZED or MALFORMED) — never another
 * error, which is what reading out of bounds or trusting a length field would produce. Valid
 * messages built from arbitrary fields round-trip. The responder as a whole never throws and
 * answers every input with ERROR or a well-formed response.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hashByName } from '../../src/spdm/algorithms.ts';
import { encodeCertChain, parseCertChain } from '../../src/spdm/cert-chain.ts';
import {
  encodeCertificate,
  encodeDigests,
  encodeGetCertificate,
  encodeGetDigests,
  parseCertificate,
  parseDigests,
  parseGetCertificate,
  parseGetDigests,
} from '../../src/spdm/certificate-messages.ts';
import { encodeChallenge, encodeChallengeAuthUnsigned, parseChallenge, parseChallengeAuth } from '../../src/spdm/challenge-messages.ts';
import { encodeRecord, parseRecord } from '../../src/spdm/measurement-block.ts';
import { encodeGetMeasurements, encodeMeasurementsUnsigned, parseGetMeasurements, parseMeasurements } from '../../src/spdm/measurement-messages.ts';
import { encodeError, parseError, parseHeader } from '../../src/spdm/message-header.ts';
import { ResponderSession } from '../../src/spdm/responder-session.ts';
import { softwareSigner } from '../../src/spdm/signing.ts';
import { SpdmError } from '../../src/spdm/spdm-error.ts';
import { encodeFrame, encodeTcpFrame, FrameDecoder, parseTcpFrame } from '../../src/spdm/transport.ts';
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
  parseGetVersion,
  parseNegotiateAlgorithms,
  parseVersion,
} from '../../src/spdm/vca-messages.ts';

const RUNS = 10_000;
const PARSER_CODES = new Set(['TRUNCATED', 'OVERSIZED', 'MALFORMED']);

/** Random bytes, or a valid sample cut, extended, flipped or overwritten. */
function inputs(samples: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const sample = fc.constantFrom(...samples);
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.tuple(sample, fc.nat()).map(([s, n]) => s.slice(0, n % (s.length + 1))),
    fc.tuple(sample, fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([s, extra]) => Uint8Array.from([...s, ...extra])),
    fc.tuple(sample, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([s, at, x]) => {
      const c = new Uint8Array(s);
      if (c.length) c[at % c.length] = (c[at % c.length] ?? 0) ^ x;
      return c;
    }),
    fc.tuple(sample, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 })).map(([s, edits]) => {
      const c = new Uint8Array(s);
      for (const [at, v] of edits) if (c.length) c[at % c.length] = v;
      return c;
    }),
  );
}

/** The property every parser must have. */
function fuzz(name: string, parse: (b: Uint8Array) => unknown, samples: readonly Uint8Array[]): void {
  it(`${name}: returns or throws SpdmError on ${RUNS} hostile inputs`, () => {
    for (const s of samples) parse(s);
    fc.assert(
      fc.property(inputs(samples), (bytes) => {
        try {
          parse(bytes);
        } catch (err) {
          if (!(err instanceof SpdmError) || !PARSER_CODES.has(err.code)) throw err;
        }
      }),
      { numRuns: RUNS },
    );
  });
}

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const SHA256 = hashByName('SHA_256');
const nonce = new Uint8Array(32).fill(0x5a);
const blocks = [
  { index: 1, valueType: 1, raw: false, value: new Uint8Array(32).fill(1) },
  { index: 7, valueType: 4, raw: true, value: Uint8Array.of(1, 2, 3) },
];

describe('SPDM parsers under fuzzing', () => {
  fuzz('header', parseHeader, [encodeGetVersion()]);
  fuzz('ERROR', parseError, [encodeError({ version: 0x12, errorCode: 1, errorData: 0, extended: Uint8Array.of(1, 2, 3, 4) })]);
  fuzz('GET_VERSION', parseGetVersion, [encodeGetVersion()]);
  fuzz('VERSION', parseVersion, [encodeVersion({ entries: [0x1000, 0x1100, 0x1200] })]);
  const caps = { ctExponent: 12, flags: 0x36, dataTransferSize: 4096, maxSpdmMsgSize: 4096 };
  fuzz('GET_CAPABILITIES', parseGetCapabilities, [encodeGetCapabilities(caps)]);
  fuzz('CAPABILITIES', parseCapabilities, [encodeCapabilities(caps)]);
  fuzz('NEGOTIATE_ALGORITHMS', parseNegotiateAlgorithms, [
    encodeNegotiateAlgorithms({ measurementSpec: 1, otherParams: 2, baseAsym: 0x90, baseHash: 3, extAsymCount: 1, extHashCount: 1, tables: [{ type: 2, supported: 0x18 }, { type: 3, supported: 2 }, { type: 4, supported: 0x90 }, { type: 5, supported: 1 }] }),
  ]);
  fuzz('ALGORITHMS', parseAlgorithms, [
    encodeAlgorithms({ measurementSpecSel: 1, otherParamsSel: 2, measurementHashAlgo: 2, baseAsymSel: 0x10, baseHashSel: 1, tables: [{ type: 2, supported: 0 }, { type: 5, supported: 0 }] }),
  ]);
  fuzz('GET_DIGESTS', parseGetDigests, [encodeGetDigests()]);
  fuzz('DIGESTS', (b) => parseDigests(b, 32), [encodeDigests({ slotMask: 3, digests: [new Uint8Array(32), new Uint8Array(32).fill(1)] })]);
  fuzz('GET_CERTIFICATE', parseGetCertificate, [encodeGetCertificate({ slot: 0, offset: 0, length: 1024 })]);
  fuzz('CERTIFICATE', parseCertificate, [encodeCertificate({ slot: 0, portion: new Uint8Array(40).fill(3), remainder: 100 })]);
  fuzz('CHALLENGE', parseChallenge, [encodeChallenge({ slot: 0, summaryHashType: 0xff, nonce })]);
  const authUnsigned = encodeChallengeAuthUnsigned({ slot: 0, slotMask: 1, certChainHash: new Uint8Array(32), nonce, summaryHash: new Uint8Array(32), opaque: Uint8Array.of(1, 2) });
  fuzz('CHALLENGE_AUTH', (b) => parseChallengeAuth(b, { hashSize: 32, withSummary: true, signatureSize: 64 }), [
    Uint8Array.from([...authUnsigned, ...new Uint8Array(64)]),
  ]);
  fuzz('GET_MEASUREMENTS', parseGetMeasurements, [
    encodeGetMeasurements({ attributes: 3, operation: 0xff, nonce, slot: 0 }),
    encodeGetMeasurements({ attributes: 0, operation: 1 }),
  ]);
  const measUnsigned = encodeMeasurementsUnsigned({ param1: 0, param2: 0, numberOfBlocks: 2, record: encodeRecord(blocks), nonce, opaque: new Uint8Array(0) });
  fuzz('MEASUREMENTS', (b) => parseMeasurements(b, 64), [Uint8Array.from([...measUnsigned, ...new Uint8Array(64)])]);
  fuzz('measurement record', (b) => parseRecord(b, 2), [encodeRecord(blocks)]);
  fuzz('certificate chain', (b) => parseCertChain(b, SHA256), [encodeCertChain(SHA256, [Uint8Array.of(0x30, 0x81, 0x02, 1, 2), Uint8Array.of(0x30, 0x00)])]);
  fuzz('DSP0287 frame', parseTcpFrame, [encodeTcpFrame(encodeGetVersion()), encodeTcpFrame(new Uint8Array(0), 0xc0)]);
  fuzz('DSP0287 stream', (b) => new FrameDecoder('tcp', 1024).push(b), [encodeFrame('tcp', encodeGetVersion())]);
  fuzz('spdm-emu stream', (b) => new FrameDecoder('emu', 1024).push(b), [encodeFrame('emu', encodeGetVersion())]);
});

describe('SPDM messages round-trip', () => {
  const prop = <T>(name: string, arb: fc.Arbitrary<T>, check: (v: T) => void) =>
    it(name, () => fc.assert(fc.property(arb.map((v) => structuredClone(v)), check), { numRuns: 2000 }));

  prop('CAPABILITIES', fc.record({ ctExponent: fc.integer({ min: 0, max: 255 }), flags: u32, dataTransferSize: fc.integer({ min: 42, max: 1 << 20 }) }), (c) => {
    const v = { ...c, maxSpdmMsgSize: c.dataTransferSize };
    assert.deepEqual(parseCapabilities(encodeCapabilities(v)), v);
  });
  prop(
    'NEGOTIATE_ALGORITHMS',
    fc.record({
      measurementSpec: fc.integer({ min: 0, max: 255 }),
      otherParams: fc.integer({ min: 0, max: 255 }),
      baseAsym: u32,
      baseHash: u32,
      extAsymCount: fc.integer({ min: 0, max: 5 }),
      extHashCount: fc.integer({ min: 0, max: 5 }),
      tables: fc.subarray([2, 3, 4, 5]).chain((types) => fc.tuple(...types.map((t) => u16.map((supported) => ({ type: t, supported }))))),
    }),
    (n) => assert.deepEqual(parseNegotiateAlgorithms(encodeNegotiateAlgorithms(n)), n),
  );
  prop('CERTIFICATE', fc.record({ slot: fc.integer({ min: 0, max: 7 }), portion: fc.uint8Array({ maxLength: 200 }), remainder: u16 }), (c) =>
    assert.deepEqual(parseCertificate(encodeCertificate(c)), c),
  );
  prop('CHALLENGE', fc.record({ slot: fc.integer({ min: 0, max: 7 }), summaryHashType: fc.constantFrom(0, 1, 0xff), nonce: bytes(32) }), (c) =>
    assert.deepEqual(parseChallenge(encodeChallenge(c)), c),
  );
  prop(
    'measurement record',
    fc.uniqueArray(
      fc.record({ index: fc.integer({ min: 1, max: 0xfe }), valueType: fc.integer({ min: 0, max: 0x7f }), raw: fc.boolean(), value: fc.uint8Array({ maxLength: 80 }) }),
      { selector: (b) => b.index, maxLength: 8 },
    ),
    (bs) => assert.deepEqual(parseRecord(encodeRecord(bs), bs.length), bs),
  );
  prop(
    'MEASUREMENTS',
    fc.record({ param1: fc.integer({ min: 0, max: 255 }), numberOfBlocks: fc.integer({ min: 0, max: 255 }), record: fc.uint8Array({ maxLength: 100 }), nonce: bytes(32), opaque: fc.uint8Array({ maxLength: 50 }), signature: bytes(96) }),
    (m) => {
      const v = { ...m, param2: 0 };
      const wire = Uint8Array.from([...encodeMeasurementsUnsigned(v), ...m.signature]);
      assert.deepEqual(parseMeasurements(wire, 96).measurements, v);
    },
  );
});

describe('SPDM responder under fuzzing', () => {
  it(`answers ${RUNS} hostile requests on a negotiated connection with ERROR or a well-formed response, never throwing`, async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const identity = {
      signer: softwareSigner({ algorithm: 'ECDSA_P256_SHA256', privateKeyPem: privateKey }),
      certificateChain: [Uint8Array.of(0x30, 0x00)],
      measurements: async () => blocks,
    };
    const vca = [
      encodeGetVersion(),
      encodeGetCapabilities({ ctExponent: 0, flags: 0, dataTransferSize: 4096, maxSpdmMsgSize: 4096 }),
      encodeNegotiateAlgorithms({ measurementSpec: 1, otherParams: 2, baseAsym: 0x10, baseHash: 1, extAsymCount: 0, extHashCount: 0, tables: [] }),
    ];
    const samples = [
      ...vca,
      encodeGetDigests(),
      encodeGetCertificate({ slot: 0, offset: 0, length: 100 }),
      encodeChallenge({ slot: 0, summaryHashType: 0xff, nonce }),
      encodeGetMeasurements({ attributes: 1, operation: 0xff, nonce, slot: 0 }),
      encodeGetMeasurements({ attributes: 0, operation: 0 }),
    ];
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(inputs(samples), { minLength: 1, maxLength: 3 }), async (negotiate, reqs) => {
        const session = new ResponderSession(identity);
        if (negotiate) for (const m of vca) assert.notEqual((await session.handle(m)).response[1], 0x7f);
        for (const req of reqs) {
          const { response, refused } = await session.handle(req);
          assert.ok(response.length >= 4);
          if (response[1] === 0x7f) {
            assert.ok(refused, 'an ERROR says why');
            parseError(response);
          } else {
            assert.equal(refused, undefined);
            assert.equal(response[1], (req[1] ?? 0) & 0x7f, 'the response code answers the request code');
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});
