/**
 * The responder's answers where DSP0274 1.2 (and DMTF's SPDM-Responder-Validator) are strict:
 * GET_CAPABILITIES with contradictory flags or mismatched sizes gets ERROR InvalidRequest, an
 * ERROR before a version is agreed carries SPDMVersion 1.0, and a P-384 key serves a requester
 * that offers only SHA-256 (its signatures verify with SHA-256).
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashByName } from '../../src/spdm/algorithms.ts';
import { concatBytes } from '../../src/spdm/byte-reader.ts';
import { encodeCertChain } from '../../src/spdm/cert-chain.ts';
import { encodeGetDigests, parseDigests } from '../../src/spdm/certificate-messages.ts';
import { encodeChallenge, parseChallengeAuth } from '../../src/spdm/challenge-messages.ts';
import { CapFlag, SIGN_CONTEXT } from '../../src/spdm/constants.ts';
import { parseError } from '../../src/spdm/message-header.ts';
import { ResponderSession } from '../../src/spdm/responder-session.ts';
import { softwareSigner, type SpdmSigner, verifySpdmSignature } from '../../src/spdm/signing.ts';
import { isSpdmError } from '../../src/spdm/spdm-error.ts';
import { type Capabilities, encodeGetCapabilities, encodeGetVersion, encodeNegotiateAlgorithms, parseAlgorithms } from '../../src/spdm/vca-messages.ts';

const CHAIN = [Uint8Array.of(0x30, 0x00)];
const P256 = 0x10;
const P384 = 0x80;
const SHA256 = 0x1;
const SHA384 = 0x2;

function p256Session(): ResponderSession {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return new ResponderSession({
    signer: softwareSigner({ algorithm: 'ECDSA_P256_SHA256', privateKeyPem: privateKey }),
    certificateChain: CHAIN,
    measurements: async () => [],
  });
}

const caps = (c: Partial<Capabilities> = {}) => encodeGetCapabilities({ ctExponent: 0, flags: 0, dataTransferSize: 4096, maxSpdmMsgSize: 4096, ...c });
const negotiate = (baseAsym: number, baseHash: number) =>
  encodeNegotiateAlgorithms({ measurementSpec: 1, otherParams: 2, baseAsym, baseHash, extAsymCount: 0, extHashCount: 0, tables: [] });
/** The same message with another SPDMVersion byte. */
const withVersion = (msg: Uint8Array, version: number) => Uint8Array.from([version, ...msg.subarray(1)]);

async function answered(s: ResponderSession, req: Uint8Array, what: string): Promise<Uint8Array> {
  const { response, refused } = await s.handle(req);
  assert.notEqual(response[1], 0x7f, `${what}: ${String(refused)}`);
  return response;
}

/** The ERROR's version, code and data; fails when the answer is not an ERROR. */
async function refusal(s: ResponderSession, req: Uint8Array): Promise<{ version: number; errorCode: number; errorData: number }> {
  const { response } = await s.handle(req);
  assert.equal(response[1], 0x7f, `expected ERROR, got response code 0x${(response[1] ?? 0).toString(16)}`);
  const e = parseError(response);
  return { version: e.version, errorCode: e.errorCode, errorData: e.errorData };
}

const INVALID_REQUEST = 0x01;
const UNEXPECTED_REQUEST = 0x04;
const VERSION_MISMATCH = 0x41;

describe('SPDM responder: GET_CAPABILITIES the requester may not send', () => {
  const { CERT, CHAL, ENCRYPT, MAC, MUT_AUTH, KEY_EX, ENCAP, HBEAT, KEY_UPD, HANDSHAKE_IN_THE_CLEAR, PUB_KEY_ID, CHUNK } = CapFlag;
  const PSK = 0x400;
  const ILLEGAL: ReadonlyArray<[string, Partial<Capabilities>]> = [
    ['KEY_EX_CAP without ENCRYPT_CAP or MAC_CAP', { flags: CERT | CHAL | MUT_AUTH | KEY_EX | PSK | ENCAP | HBEAT | KEY_UPD }],
    ['PSK_CAP without ENCRYPT_CAP or MAC_CAP', { flags: PSK }],
    ['ENCRYPT_CAP and MAC_CAP without KEY_EX_CAP or PSK_CAP', { flags: CERT | CHAL | ENCRYPT | MAC | MUT_AUTH | ENCAP | HBEAT | KEY_UPD }],
    ['HBEAT_CAP without a session capability', { flags: HBEAT }],
    ['KEY_UPD_CAP without a session capability', { flags: KEY_UPD }],
    ['HANDSHAKE_IN_THE_CLEAR_CAP without a session capability', { flags: HANDSHAKE_IN_THE_CLEAR }],
    ['HANDSHAKE_IN_THE_CLEAR_CAP with PSK_CAP only', { flags: PSK | MAC | HANDSHAKE_IN_THE_CLEAR }],
    ['PSK_CAP with the reserved value 2', { flags: 0x800 | MAC | KEY_EX }],
    ['CERT_CAP and PUB_KEY_ID_CAP together', { flags: CERT | PUB_KEY_ID | CHAL }],
    ['CERT_CAP without CHAL_CAP or KEY_EX_CAP', { flags: CERT }],
    ['CHAL_CAP without CERT_CAP or PUB_KEY_ID_CAP', { flags: CHAL }],
    ['MUT_AUTH_CAP without CERT_CAP or PUB_KEY_ID_CAP', { flags: MUT_AUTH }],
    ['DataTransferSize below MaxSPDMmsgSize without CHUNK_CAP', { dataTransferSize: 4095, maxSpdmMsgSize: 4096 }],
    ['DataTransferSize below 42', { dataTransferSize: 41, maxSpdmMsgSize: 41 }],
    ['DataTransferSize above MaxSPDMmsgSize', { dataTransferSize: 4097, maxSpdmMsgSize: 4096 }],
  ];
  const LEGAL: ReadonlyArray<[string, Partial<Capabilities>]> = [
    ['no flags (our requester)', {}],
    ['CERT_CAP and CHAL_CAP (spdm_requester_emu pinned to 1.2)', { flags: CERT | CHAL }],
    ['sessions with mutual authentication', { flags: CERT | CHAL | ENCRYPT | MAC | MUT_AUTH | KEY_EX | PSK | ENCAP | HBEAT | KEY_UPD | HANDSHAKE_IN_THE_CLEAR }],
    ['PUB_KEY_ID_CAP with KEY_EX_CAP', { flags: PUB_KEY_ID | KEY_EX | MAC }],
    ['DataTransferSize below MaxSPDMmsgSize with CHUNK_CAP', { flags: CHUNK, dataTransferSize: 1024, maxSpdmMsgSize: 65536 }],
  ];

  for (const [what, c] of ILLEGAL) {
    it(`${what}: ERROR InvalidRequest (version 1.2, no data), and the connection still awaits GET_CAPABILITIES`, async () => {
      const s = p256Session();
      await answered(s, encodeGetVersion(), 'GET_VERSION');
      assert.deepEqual(await refusal(s, caps(c)), { version: 0x12, errorCode: INVALID_REQUEST, errorData: 0 });
      assert.equal(s.state, 'AwaitingCapabilities');
      await answered(s, caps(), 'a legal GET_CAPABILITIES after the refused one');
    });
  }

  for (const [what, c] of LEGAL) {
    it(`${what}: answered with CAPABILITIES`, async () => {
      const s = p256Session();
      await answered(s, encodeGetVersion(), 'GET_VERSION');
      const rsp = await answered(s, caps(c), 'GET_CAPABILITIES');
      assert.equal(rsp[1], 0x61);
      assert.equal(s.state, 'AwaitingAlgorithms');
    });
  }
});

describe('SPDM responder: the SPDMVersion of an ERROR', () => {
  it('VersionMismatch for a GET_CAPABILITIES of 1.1 or 1.3 carries 1.0: no version is agreed yet', async () => {
    const s = p256Session();
    await answered(s, encodeGetVersion(), 'GET_VERSION');
    for (const version of [0x11, 0x13]) {
      assert.deepEqual(await refusal(s, withVersion(caps(), version)), { version: 0x10, errorCode: VERSION_MISMATCH, errorData: 0 }, `GET_CAPABILITIES 0x${version.toString(16)}`);
    }
    await answered(s, caps(), 'GET_CAPABILITIES 1.2 afterwards');
  });

  it('before GET_CAPABILITIES every ERROR carries 1.0 (a request out of order, before and after GET_VERSION)', async () => {
    const s = p256Session();
    assert.deepEqual(await refusal(s, caps()), { version: 0x10, errorCode: UNEXPECTED_REQUEST, errorData: 0 });
    await answered(s, encodeGetVersion(), 'GET_VERSION');
    assert.deepEqual(await refusal(s, negotiate(P256, SHA256)), { version: 0x10, errorCode: UNEXPECTED_REQUEST, errorData: 0 });
  });

  it('once CAPABILITIES agreed on 1.2, a VersionMismatch carries 1.2', async () => {
    const s = p256Session();
    await answered(s, encodeGetVersion(), 'GET_VERSION');
    await answered(s, caps(), 'GET_CAPABILITIES');
    assert.deepEqual(await refusal(s, withVersion(negotiate(P256, SHA256), 0x11)), { version: 0x12, errorCode: VERSION_MISMATCH, errorData: 0 });
    assert.deepEqual(await refusal(s, withVersion(caps(), 0x11)), { version: 0x12, errorCode: VERSION_MISMATCH, errorData: 0 });
  });
});

describe('SPDM responder: which BaseHashAlgo it serves', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const p384 = () =>
    new ResponderSession({ signer: softwareSigner({ algorithm: 'ECDSA_P384_SHA384', privateKeyPem: privateKey }), certificateChain: CHAIN, measurements: async () => [] });

  it('a P-384 key serves a requester that offers P-384 with SHA-256 only: chain digest and CHALLENGE_AUTH signature use SHA-256', async () => {
    const s = p384();
    const vca = [encodeGetVersion(), caps(), negotiate(P384, SHA256)];
    const a: Uint8Array[] = [];
    for (const req of vca) a.push(req, await answered(s, req, `VCA 0x${(req[1] ?? 0).toString(16)}`));
    const algorithms = parseAlgorithms(a[5] ?? new Uint8Array(0));
    assert.equal(algorithms.baseAsymSel, P384);
    assert.equal(algorithms.baseHashSel, SHA256);

    const getDigests = encodeGetDigests();
    const digests = await answered(s, getDigests, 'GET_DIGESTS');
    const chainDigest = createHash('sha256').update(encodeCertChain(hashByName('SHA_256'), CHAIN)).digest();
    assert.deepEqual(Buffer.from(parseDigests(digests, 32).digests[0] ?? []), chainDigest);

    const challenge = encodeChallenge({ slot: 0, summaryHashType: 0, nonce: new Uint8Array(32).fill(7) });
    const auth = await answered(s, challenge, 'CHALLENGE');
    const { auth: parsed, signedPart } = parseChallengeAuth(auth, { hashSize: 32, withSummary: false, signatureSize: 96 });
    assert.deepEqual(Buffer.from(parsed.certChainHash), chainDigest);
    const transcript = concatBytes([...a, getDigests, digests, challenge, signedPart]);
    const check = (hash: 'SHA_256' | 'SHA_384') =>
      verifySpdmSignature({ key: publicKey, hash: hashByName(hash), context: SIGN_CONTEXT.challengeAuth, transcript, signature: parsed.signature, what: 'CHALLENGE_AUTH' });
    check('SHA_256');
    assert.throws(() => check('SHA_384'), (e: unknown) => isSpdmError(e) && e.code === 'BAD_SIGNATURE');
  });

  it("a P-384 key offered both hashes selects its own, SHA-384", async () => {
    const s = p384();
    await answered(s, encodeGetVersion(), 'GET_VERSION');
    await answered(s, caps(), 'GET_CAPABILITIES');
    const algorithms = parseAlgorithms(await answered(s, negotiate(P384 | P256, SHA256 | SHA384), 'NEGOTIATE_ALGORITHMS'));
    assert.equal(algorithms.baseAsymSel, P384);
    assert.equal(algorithms.baseHashSel, SHA384);
  });

  it('a signer that signs with its own hash only (a token key) refuses a requester without that hash: ERROR InvalidRequest', async () => {
    const { privateKey: key } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const software = softwareSigner({ algorithm: 'ECDSA_P256_SHA256', privateKeyPem: key });
    const tokenLike: SpdmSigner = { algorithm: 'ECDSA_P256_SHA256', sign: software.sign };
    const s = new ResponderSession({ signer: tokenLike, certificateChain: CHAIN, measurements: async () => [] });
    await answered(s, encodeGetVersion(), 'GET_VERSION');
    await answered(s, caps(), 'GET_CAPABILITIES');
    assert.deepEqual(await refusal(s, negotiate(P256, SHA384)), { version: 0x12, errorCode: INVALID_REQUEST, errorData: 0 });
    assert.equal(s.state, 'AwaitingAlgorithms');
  });
});
