/**
 * The responder's signatures per connection: CHALLENGE_AUTH and signed MEASUREMENTS count, unsigned
 * MEASUREMENTS do not; the request beyond the limit gets ERROR Unspecified before the identity key
 * signs anything, and the reply says the connection must close.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeChallenge } from '../../src/spdm/challenge-messages.ts';
import { MeasAttr, MeasOp, SummaryHash } from '../../src/spdm/constants.ts';
import { encodeGetMeasurements } from '../../src/spdm/measurement-messages.ts';
import { parseError } from '../../src/spdm/message-header.ts';
import { DEFAULT_SPDM_MAX_SIGNATURES, ResponderSession } from '../../src/spdm/responder-session.ts';
import { softwareSigner, type SpdmSigner } from '../../src/spdm/signing.ts';
import { encodeGetCapabilities, encodeGetVersion, encodeNegotiateAlgorithms } from '../../src/spdm/vca-messages.ts';

const UNSPECIFIED = 0x05;

/** A P-256 responder session whose signer counts its signatures. */
function countingSession(maxSignatures?: number): { session: ResponderSession; signed: () => number } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const inner = softwareSigner({ algorithm: 'ECDSA_P256_SHA256', privateKeyPem: privateKey });
  let count = 0;
  const signer: SpdmSigner = {
    algorithm: inner.algorithm,
    sign: (m) => {
      count += 1;
      return inner.sign(m);
    },
  };
  const session = new ResponderSession({
    signer,
    certificateChain: [Uint8Array.of(0x30, 0x00)],
    measurements: async () => [{ index: 1, valueType: 1, raw: false, value: new Uint8Array(32) }],
    ...(maxSignatures === undefined ? {} : { maxSignatures }),
  });
  return { session, signed: () => count };
}

async function negotiated(s: ResponderSession): Promise<void> {
  for (const req of [
    encodeGetVersion(),
    encodeGetCapabilities({ ctExponent: 0, flags: 0, dataTransferSize: 4096, maxSpdmMsgSize: 4096 }),
    encodeNegotiateAlgorithms({ measurementSpec: 1, otherParams: 2, baseAsym: 0x10, baseHash: 0x1, extAsymCount: 0, extHashCount: 0, tables: [] }),
  ]) {
    const r = await s.handle(req);
    assert.notEqual(r.response[1], 0x7f, String(r.refused));
  }
}

const challenge = () => encodeChallenge({ slot: 0, summaryHashType: SummaryHash.NONE, nonce: new Uint8Array(randomBytes(32)) });
const signedMeasurements = () => encodeGetMeasurements({ attributes: MeasAttr.SIGNATURE, operation: MeasOp.ALL, nonce: new Uint8Array(randomBytes(32)), slot: 0 });
const unsignedMeasurements = () => encodeGetMeasurements({ attributes: 0, operation: MeasOp.ALL });

describe('SPDM responder: signed responses per connection', () => {
  it(`allows ${DEFAULT_SPDM_MAX_SIGNATURES} by default: an attestation (CHALLENGE + signed GET_MEASUREMENTS) twice`, async () => {
    const { session, signed } = countingSession();
    await negotiated(session);
    for (let round = 0; round < DEFAULT_SPDM_MAX_SIGNATURES / 2; round++) {
      assert.equal((await session.handle(challenge())).response[1], 0x03, 'CHALLENGE_AUTH');
      const m = await session.handle(signedMeasurements());
      assert.equal(m.response[1], 0x60, 'MEASUREMENTS');
      assert.equal(m.signedMeasurements, true);
      assert.equal(m.closeConnection, undefined);
    }
    assert.equal(signed(), DEFAULT_SPDM_MAX_SIGNATURES);
    const over = await session.handle(signedMeasurements());
    assert.equal(parseError(over.response).errorCode, UNSPECIFIED);
    assert.equal(over.closeConnection, true, 'the connection is to be closed');
    assert.match(String(over.refused), /more than 4 signed responses asked for on one connection/);
    assert.equal(signed(), DEFAULT_SPDM_MAX_SIGNATURES, 'nothing was signed for the refused request');
  });

  it('counts only what is signed, and refuses every signed request once the limit is reached', async () => {
    const { session, signed } = countingSession(1);
    await negotiated(session);
    for (let i = 0; i < 3; i++) assert.equal((await session.handle(unsignedMeasurements())).response[1], 0x60, 'unsigned MEASUREMENTS are free');
    assert.equal((await session.handle(challenge())).response[1], 0x03);
    for (const req of [challenge(), signedMeasurements()]) {
      const r = await session.handle(req);
      assert.equal(parseError(r.response).errorCode, UNSPECIFIED);
      assert.equal(r.closeConnection, true);
    }
    assert.equal(signed(), 1);
  });
});
