/**
 * The responder chart (which request is acceptable when) explored with xstate/graph, and every
 * shortest path replayed against a real ResponderSession with real messages: a request the chart
 * accepts is answered, one it refuses gets ERROR UnexpectedRequest, in every reachable state.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { getShortestPaths } from 'xstate/graph';
import { type SpdmResponderEvent, spdmResponderMachine } from '../../machines/spdm-responder.machine.ts';
import { encodeGetCertificate, encodeGetDigests } from '../../src/spdm/certificate-messages.ts';
import { encodeChallenge } from '../../src/spdm/challenge-messages.ts';
import { encodeGetMeasurements } from '../../src/spdm/measurement-messages.ts';
import { parseError } from '../../src/spdm/message-header.ts';
import { ResponderSession } from '../../src/spdm/responder-session.ts';
import { softwareSigner } from '../../src/spdm/signing.ts';
import { encodeGetCapabilities, encodeGetVersion, encodeNegotiateAlgorithms } from '../../src/spdm/vca-messages.ts';
import { pathFromEvents } from './path-from-events.ts';

const TYPES: SpdmResponderEvent['type'][] = ['GET_VERSION', 'GET_CAPABILITIES', 'NEGOTIATE_ALGORITHMS', 'GET_DIGESTS', 'GET_CERTIFICATE', 'CHALLENGE', 'GET_MEASUREMENTS'];
const NEGOTIATED = ['GET_VERSION', 'GET_DIGESTS', 'GET_CERTIFICATE', 'CHALLENGE', 'GET_MEASUREMENTS'];

/** The oracle, written down from DSP0274's connection states independently of the chart. */
const ACCEPTS: Record<string, string[]> = {
  '"AwaitingVersion"': ['GET_VERSION'],
  '"AwaitingCapabilities"': ['GET_VERSION', 'GET_CAPABILITIES'],
  '"AwaitingAlgorithms"': ['GET_VERSION', 'NEGOTIATE_ALGORITHMS'],
  '{"Negotiated":"Unauthenticated"}': NEGOTIATED,
  '{"Negotiated":"Authenticated"}': NEGOTIATED,
};

const nonce = new Uint8Array(32).fill(1);
const MESSAGE: Record<SpdmResponderEvent['type'], Uint8Array> = {
  GET_VERSION: encodeGetVersion(),
  GET_CAPABILITIES: encodeGetCapabilities({ ctExponent: 0, flags: 0, dataTransferSize: 4096, maxSpdmMsgSize: 4096 }),
  NEGOTIATE_ALGORITHMS: encodeNegotiateAlgorithms({ measurementSpec: 1, otherParams: 2, baseAsym: 0x10, baseHash: 1, extAsymCount: 0, extHashCount: 0, tables: [] }),
  GET_DIGESTS: encodeGetDigests(),
  GET_CERTIFICATE: encodeGetCertificate({ slot: 0, offset: 0, length: 1024 }),
  CHALLENGE: encodeChallenge({ slot: 0, summaryHashType: 0, nonce }),
  GET_MEASUREMENTS: encodeGetMeasurements({ attributes: 1, operation: 0xff, nonce, slot: 0 }),
};

function session(): ResponderSession {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return new ResponderSession({
    signer: softwareSigner({ algorithm: 'ECDSA_P256_SHA256', privateKeyPem: privateKey }),
    certificateChain: [Uint8Array.of(0x30, 0x00)],
    measurements: async () => [{ index: 1, valueType: 0, raw: true, value: Uint8Array.of(1) }],
  });
}

describe('SPDM responder chart', () => {
  const paths = getShortestPaths(spdmResponderMachine, { events: TYPES.map((type) => ({ type }) as SpdmResponderEvent) });

  it('reaches every connection state and accepts exactly what DSP0274 allows there', () => {
    const seen = new Set<string>();
    for (const p of paths) {
      const key = JSON.stringify(p.state.value);
      seen.add(key);
      const accepted = TYPES.filter((type) => p.state.can({ type } as SpdmResponderEvent));
      assert.deepEqual(accepted, ACCEPTS[key], `state ${key}`);
    }
    assert.deepEqual([...seen].sort(), Object.keys(ACCEPTS).sort());
  });

  it('the real responder follows the chart on every path: answers what it accepts, refuses the rest with UnexpectedRequest', async () => {
    for (const p of paths) {
      const events = p.steps.map((s) => s.event as { type: string }).filter((e): e is SpdmResponderEvent => e.type !== 'xstate.init');
      const s = session();
      for (const e of events) assert.notEqual((await s.handle(MESSAGE[e.type])).response[1], 0x7f, `${e.type} along the path`);
      const { state } = pathFromEvents(spdmResponderMachine, events, {});
      for (const type of TYPES) {
        const probe = session();
        for (const e of events) await probe.handle(MESSAGE[e.type]);
        const { response } = await probe.handle(MESSAGE[type]);
        if (state.can({ type } as SpdmResponderEvent)) assert.notEqual(response[1], 0x7f, `${type} in ${JSON.stringify(state.value)}`);
        else assert.equal(parseError(response).errorCode, 0x04, `${type} in ${JSON.stringify(state.value)}`);
      }
    }
  });
});
