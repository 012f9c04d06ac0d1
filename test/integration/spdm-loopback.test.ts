/**
 * Our SPDM requester against our SPDM responder over real TCP on 127.0.0.1, with both algorithm
 * sets, both framings and a token-backed identity key (SoftHSM2); then the bad inputs of the
 * issue: a hostile raw client (truncated, oversized, reordered, replayed, unknown requests) gets
 * ERROR while the responder keeps serving others, and a requester facing a wrong root, a tampered
 * measurement or a replayed CHALLENGE_AUTH fails with a clear reason code.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Pkcs11Token } from '../../src/pki/token/pkcs11-token.ts';
import { encodeChallenge } from '../../src/spdm/challenge-messages.ts';
import { SummaryHash } from '../../src/spdm/constants.ts';
import { parseError } from '../../src/spdm/message-header.ts';
import {
  attest,
  DEFAULT_SPDM_MAX_SIGNATURES,
  type MeasurementBlock,
  softwareSigner,
  SpdmError,
  type SpdmErrorCode,
  type SpdmResponder,
  type SpdmSessionEvent,
  startSpdmResponder,
  tokenSigner,
} from '../../src/spdm/index.ts';
import { encodeTcpFrame, FrameDecoder, type SpdmTransport } from '../../src/spdm/transport.ts';
import { captureLog } from '../harness/capture-log.ts';
import { closerOf } from '../harness/server-connections.ts';
import { startSoftHsmToken, type TestToken } from '../harness/softhsm.ts';
import { createSpdmTestIdentity, type SpdmTestIdentity, type TestCurve } from '../harness/spdm-identity.ts';
import { completeSignedMeasurements, GET_CAPS, GET_VERSION, NEGOTIATE, signedGetMeasurements, SpdmRawClient } from '../harness/spdm-raw-client.ts';

const TIMEOUT_MS = 10_000;
const SIGNER = { 'P-256': 'ECDSA_P256_SHA256', 'P-384': 'ECDSA_P384_SHA384' } as const;
const ASYM = { 'P-256': 'ECDSA_P256', 'P-384': 'ECDSA_P384' } as const;
const HASH = { 'P-256': 'SHA_256', 'P-384': 'SHA_384' } as const;

function blocksOf(id: SpdmTestIdentity): MeasurementBlock[] {
  const firmware = new Uint8Array(createHash('sha256').update('firmware image v1').digest());
  return [
    { index: 1, valueType: 1, raw: false, value: firmware },
    { index: 2, valueType: 6, raw: true, value: new TextEncoder().encode('version 1.2.3') },
    { index: 0xf0, valueType: 4, raw: true, value: id.chain[1] ?? new Uint8Array(0) },
  ];
}

async function rejectsWith(p: Promise<unknown>, code: SpdmErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SpdmError, `expected an SpdmError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

interface Served {
  readonly id: SpdmTestIdentity;
  readonly responder: SpdmResponder;
  readonly sessions: SpdmSessionEvent[];
}

async function serve(curve: TestCurve, transport: SpdmTransport): Promise<Served> {
  const id = await createSpdmTestIdentity({ curve });
  const sessions: SpdmSessionEvent[] = [];
  const responder = await startSpdmResponder({
    host: '127.0.0.1',
    port: 0,
    transport,
    signer: softwareSigner({ algorithm: SIGNER[curve], privateKeyPem: id.leafKeyPem ?? '' }),
    certificateChain: id.chain,
    measurements: async () => blocksOf(id),
    onSession: (e) => sessions.push(e),
    timeoutMs: TIMEOUT_MS,
    log: captureLog().log,
  });
  return { id, responder, sessions };
}

for (const curve of ['P-256', 'P-384'] as const) {
  for (const transport of ['tcp', 'emu'] as const) {
    describe(`SPDM loopback, ${curve}, ${transport} framing`, () => {
      let s: Served;
      before(async () => {
        s = await serve(curve, transport);
      }, { timeout: 300_000 });
      after(async () => {
        await s.responder.close();
      }, { timeout: 120_000 });

      it('attests: version, algorithms, the verified chain and every measurement block', async () => {
        const report = await attest({ host: '127.0.0.1', port: s.responder.port, transport, roots: [s.id.rootDer], timeoutMs: TIMEOUT_MS });
        assert.equal(report.version, '1.2');
        assert.deepEqual(report.algorithms, { baseAsym: ASYM[curve], baseHash: HASH[curve], measurementHash: 'SHA_256' });
        assert.deepEqual(
          report.certificateChain.map((pem) => new X509Certificate(pem).raw.toString('hex')),
          s.id.chain.map((d) => Buffer.from(d).toString('hex')),
        );
        assert.deepEqual(
          report.measurements,
          blocksOf(s.id).map((b) => ({ index: b.index, valueType: b.valueType, raw: b.raw, value: Buffer.from(b.value).toString('hex') })),
        );
        await eventually(() => s.sessions.some((e) => e.completed));
      });

      it('fails with UNTRUSTED_CHAIN against another root', async () => {
        const other = await createSpdmTestIdentity({ curve });
        await rejectsWith(
          attest({ host: '127.0.0.1', port: s.responder.port, transport, roots: [other.rootDer], timeoutMs: TIMEOUT_MS }),
          'UNTRUSTED_CHAIN',
        );
      });
    });
  }
}

async function eventually(probe: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !probe(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(probe(), 'condition not reached');
}

describe('SPDM responder with its identity key in a PKCS#11 token (SoftHSM2)', () => {
  let token: TestToken;
  let p11: Pkcs11Token;
  let responder: SpdmResponder;
  let id: SpdmTestIdentity;
  before(async () => {
    token = await startSoftHsmToken({ keyLabel: 'spdm-identity' });
    for (const [k, v] of Object.entries(token.env)) process.env[k] = v;
    p11 = new Pkcs11Token({ token: token.token, timeoutMs: TIMEOUT_MS, log: captureLog().log });
    const { spki } = await p11.caPublicKey({ create: true });
    id = await createSpdmTestIdentity({ curve: 'P-256', leafSpki: spki });
    responder = await startSpdmResponder({
      host: '127.0.0.1',
      port: 0,
      transport: 'tcp',
      signer: tokenSigner(p11),
      certificateChain: id.chain,
      measurements: async () => blocksOf(id),
      timeoutMs: TIMEOUT_MS,
      log: captureLog().log,
    });
  }, { timeout: 300_000 });
  after(async () => {
    await responder?.close();
    await p11?.close();
    await token?.stop();
  }, { timeout: 120_000 });

  it('attests with CHALLENGE_AUTH and MEASUREMENTS signed inside the token', async () => {
    const report = await attest({ host: '127.0.0.1', port: responder.port, transport: 'tcp', roots: [id.rootDer], timeoutMs: TIMEOUT_MS });
    assert.equal(report.algorithms.baseAsym, 'ECDSA_P256');
    assert.equal(report.measurements.length, 3);
  });
});

/**
 * A man in the middle for DSP0287 connections: forwards requests unchanged and hands each
 * response (SPDM message) to `rewrite`, which may return other bytes. `session` counts connections.
 */
async function startProxy(target: number, rewrite: (msg: Uint8Array, session: number) => Uint8Array): Promise<{ port: number; close(): Promise<void> }> {
  let sessions = 0;
  const server: Server = createServer((client) => {
    const session = sessions++;
    const upstream = connect({ host: '127.0.0.1', port: target });
    const down = new FrameDecoder('tcp', 0xffff);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      for (const f of down.push(chunk)) if (f.kind === 'spdm') client.write(encodeTcpFrame(rewrite(f.message, session)));
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  // Closing destroys the requesters' connections, and each takes its upstream one with it (end()).
  const close = closerOf(server, 'the SPDM proxy');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, close };
}

describe('SPDM requester against hostile responders', () => {
  let s: Served;
  before(async () => {
    s = await serve('P-256', 'tcp');
  }, { timeout: 300_000 });
  after(async () => {
    await s.responder.close();
  }, { timeout: 120_000 });

  it('a tampered measurement fails the attestation with BAD_SIGNATURE', async () => {
    const proxy = await startProxy(s.responder.port, (msg) => {
      if (msg[1] !== 0x60) return msg;
      const copy = new Uint8Array(msg);
      // The first block's digest starts after header(4) + count(1) + length(3) + block header(7).
      copy[15] = (copy[15] ?? 0) ^ 0x01;
      return copy;
    });
    try {
      await rejectsWith(
        attest({ host: '127.0.0.1', port: proxy.port, transport: 'tcp', roots: [s.id.rootDer], timeoutMs: TIMEOUT_MS }),
        'BAD_SIGNATURE',
        /MEASUREMENTS/,
      );
    } finally {
      await proxy.close();
    }
  });

  it('a CHALLENGE_AUTH replayed from an earlier session (signed over an old nonce) fails with BAD_SIGNATURE', async () => {
    let recorded: Uint8Array | undefined;
    const proxy = await startProxy(s.responder.port, (msg, session) => {
      if (msg[1] !== 0x03) return msg;
      if (session === 0) {
        recorded = msg;
        return msg;
      }
      return recorded ?? msg;
    });
    try {
      await attest({ host: '127.0.0.1', port: proxy.port, transport: 'tcp', roots: [s.id.rootDer], timeoutMs: TIMEOUT_MS });
      assert.ok(recorded, 'the first session recorded a CHALLENGE_AUTH');
      await rejectsWith(
        attest({ host: '127.0.0.1', port: proxy.port, transport: 'tcp', roots: [s.id.rootDer], timeoutMs: TIMEOUT_MS }),
        'BAD_SIGNATURE',
        /CHALLENGE_AUTH/,
      );
    } finally {
      await proxy.close();
    }
  });

  it('a reordered response (an earlier VERSION replayed in place of DIGESTS) fails with UNEXPECTED_RESPONSE', async () => {
    let version: Uint8Array | undefined;
    const proxy = await startProxy(s.responder.port, (msg) => {
      if (msg[1] === 0x04) version = msg;
      return msg[1] === 0x01 && version ? version : msg;
    });
    try {
      await rejectsWith(
        attest({ host: '127.0.0.1', port: proxy.port, transport: 'tcp', roots: [s.id.rootDer], timeoutMs: TIMEOUT_MS }),
        'UNEXPECTED_RESPONSE',
        /GET_DIGESTS/,
      );
    } finally {
      await proxy.close();
    }
  });

  it('a truncated response fails with TRUNCATED, a response with trailing bytes with OVERSIZED', async () => {
    for (const [cut, code] of [
      [(m: Uint8Array) => m.slice(0, m.length - 1), 'TRUNCATED'],
      [(m: Uint8Array) => Uint8Array.from([...m, 0]), 'OVERSIZED'],
    ] as const) {
      const proxy = await startProxy(s.responder.port, (msg) => (msg[1] === 0x02 ? cut(msg) : msg));
      try {
        await rejectsWith(attest({ host: '127.0.0.1', port: proxy.port, transport: 'tcp', roots: [s.id.rootDer], timeoutMs: TIMEOUT_MS }), code);
      } finally {
        await proxy.close();
      }
    }
  });

  it('a responder that never answers fails with TIMEOUT', async () => {
    const silent = createServer();
    const close = closerOf(silent, 'a responder that never answers');
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const addr = silent.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    try {
      await rejectsWith(attest({ host: '127.0.0.1', port, transport: 'tcp', roots: [s.id.rootDer], timeoutMs: 300 }), 'TIMEOUT');
    } finally {
      await close();
    }
  });
});

function errorCodeOf(rsp: Uint8Array): number {
  assert.equal(rsp[1], 0x7f, `expected ERROR, got code 0x${(rsp[1] ?? 0).toString(16)}`);
  return parseError(rsp).errorCode;
}

describe('SPDM responder whose measurement source hangs', () => {
  it('gives up on the request after timeoutMs, closes that connection and says why', async () => {
    const id = await createSpdmTestIdentity({ curve: 'P-256' });
    const sessions: SpdmSessionEvent[] = [];
    const responder = await startSpdmResponder({
      host: '127.0.0.1',
      port: 0,
      transport: 'tcp',
      signer: softwareSigner({ algorithm: 'ECDSA_P256_SHA256', privateKeyPem: id.leafKeyPem ?? '' }),
      certificateChain: id.chain,
      measurements: () => new Promise<MeasurementBlock[]>(() => undefined),
      onSession: (e) => sessions.push(e),
      timeoutMs: 300,
      log: captureLog().log,
    });
    try {
      await rejectsWith(attest({ host: '127.0.0.1', port: responder.port, transport: 'tcp', roots: [id.rootDer], timeoutMs: TIMEOUT_MS }), 'CONNECTION');
      await eventually(() => sessions.some((e) => !e.completed && /timed out/.test(e.reason ?? '')));
    } finally {
      await responder.close();
    }
  });
});

describe('SPDM responder given an identity key that its leaf certificate does not certify', () => {
  it('refuses to start, naming the mismatch, and listens on nothing', async () => {
    const id = await createSpdmTestIdentity({ curve: 'P-256' });
    const other = await createSpdmTestIdentity({ curve: 'P-256' });
    await assert.rejects(
      startSpdmResponder({
        host: '127.0.0.1',
        port: 0,
        transport: 'tcp',
        signer: softwareSigner({ algorithm: 'ECDSA_P256_SHA256', privateKeyPem: other.leafKeyPem ?? '' }),
        certificateChain: id.chain,
        measurements: async () => [],
        timeoutMs: 5000,
        log: captureLog().log,
      }),
      (err: unknown) => err instanceof SpdmError && err.code === 'BAD_CERTIFICATE' && /not the key the slot 0 leaf certificate certifies/.test(err.message),
    );
  });
});

describe('SPDM responder against a hostile raw-socket client', () => {
  let s: Served;
  before(async () => {
    s = await serve('P-384', 'tcp');
  }, { timeout: 300_000 });
  after(async () => {
    await s.responder.close();
  }, { timeout: 120_000 });

  it('answers ERROR to unknown, truncated, oversized, reordered and replayed requests, and keeps serving', async () => {
    const c = await SpdmRawClient.open({ port: s.responder.port });
    try {
      assert.equal(errorCodeOf(await c.ask(Uint8Array.of(0x12, 0x99, 0, 0))), 0x07, 'unknown request code: UnsupportedRequest');
      assert.equal(errorCodeOf(await c.ask(Uint8Array.of(0x12))), 0x01, 'a 1-byte message: InvalidRequest');
      assert.equal(errorCodeOf(await c.ask(Uint8Array.of(0x12, 0xe0, 0, 0))), 0x04, 'GET_MEASUREMENTS before VCA: UnexpectedRequest');
      assert.equal((await c.ask(GET_VERSION))[1], 0x04, 'VERSION');
      assert.equal(errorCodeOf(await c.ask(NEGOTIATE)), 0x04, 'NEGOTIATE_ALGORITHMS before GET_CAPABILITIES: UnexpectedRequest');
      assert.equal(errorCodeOf(await c.ask(GET_CAPS.slice(0, 12))), 0x01, 'truncated GET_CAPABILITIES: InvalidRequest');
      assert.equal(errorCodeOf(await c.ask(Uint8Array.from([...GET_CAPS, 0]))), 0x01, 'GET_CAPABILITIES with a trailing byte: InvalidRequest');
      assert.equal((await c.ask(GET_CAPS))[1], 0x61, 'CAPABILITIES');
      assert.equal(errorCodeOf(await c.ask(GET_CAPS)), 0x04, 'replayed GET_CAPABILITIES: UnexpectedRequest');
      const badLength = new Uint8Array(NEGOTIATE);
      badLength[4] = 200;
      assert.equal(errorCodeOf(await c.ask(badLength)), 0x01, 'NEGOTIATE_ALGORITHMS whose Length lies: InvalidRequest');
      assert.equal((await c.ask(NEGOTIATE))[1], 0x63, 'ALGORITHMS');
      assert.equal(errorCodeOf(await c.ask(NEGOTIATE)), 0x04, 'replayed NEGOTIATE_ALGORITHMS: UnexpectedRequest');
      assert.equal(errorCodeOf(await c.ask(Uint8Array.of(0x11, 0x81, 0, 0))), 0x41, 'GET_DIGESTS as SPDM 1.1: VersionMismatch');
      assert.equal(errorCodeOf(await c.ask(Uint8Array.of(0x12, 0x82, 0, 0, 0xff, 0xff, 0x10, 0))), 0x01, 'GET_CERTIFICATE beyond the chain: InvalidRequest');
      assert.equal(errorCodeOf(await c.ask(Uint8Array.of(0x12, 0xe0, 0, 0x77))), 0x01, 'GET_MEASUREMENTS of a missing index: InvalidRequest');
      assert.equal((await c.ask(Uint8Array.of(0x12, 0xe0, 0, 0)))[1], 0x60, 'after all that, the connection still answers');
      // An SPDM-level oversize: a frame within the limit but a message longer than any request.
      assert.equal(errorCodeOf(await c.ask(Uint8Array.from([0x12, 0x81, 0, 0, ...new Array(3000).fill(0)]))), 0x01, 'oversized GET_DIGESTS');
    } finally {
      c.close();
    }
    // A frame announcing more than the responder accepts: a DSP0287 error, then that connection closes.
    const big = await SpdmRawClient.open({ port: s.responder.port });
    big.writeRaw(Uint8Array.of(0xff, 0xff, 0x01, 0x05));
    assert.equal(await big.binding(), 0xc0);
    await big.whenClosed();
    // A connection that sends half a frame and hangs up.
    const half = await SpdmRawClient.open({ port: s.responder.port });
    half.writeRaw(Uint8Array.of(0x06, 0x00, 0x01));
    half.close();
    // Others are served all along.
    const report = await attest({ host: '127.0.0.1', port: s.responder.port, transport: 'tcp', roots: [s.id.rootDer], timeoutMs: TIMEOUT_MS });
    assert.equal(report.measurements.length, 3);
    await eventually(() => s.sessions.some((e) => !e.completed && /truncated/.test(e.reason ?? '')));
  });

  it(`answers a connection's signed responses up to the limit (${DEFAULT_SPDM_MAX_SIGNATURES}), then ERROR Unspecified and closes it; a new connection is served`, async () => {
    const greedy = await SpdmRawClient.open({ port: s.responder.port });
    try {
      for (const msg of [GET_VERSION, GET_CAPS, NEGOTIATE]) assert.notEqual((await greedy.ask(msg))[1], 0x7f, 'VCA answered');
      const challenge = () => encodeChallenge({ slot: 0, summaryHashType: SummaryHash.NONE, nonce: new Uint8Array(randomBytes(32)) });
      // CHALLENGE_AUTH and signed MEASUREMENTS both count; unsigned MEASUREMENTS cost no signature and do not.
      const signed = [challenge, signedGetMeasurements, challenge, signedGetMeasurements];
      assert.equal(signed.length, DEFAULT_SPDM_MAX_SIGNATURES);
      for (const ask of signed) {
        assert.equal((await greedy.ask(Uint8Array.of(0x12, 0xe0, 0, 0)))[1], 0x60, 'unsigned MEASUREMENTS');
        const request = ask();
        assert.equal((await greedy.ask(request))[1], request[1] === 0x83 ? 0x03 : 0x60, 'a signed response within the limit');
      }
      assert.equal(errorCodeOf(await greedy.ask(challenge())), 0x05, 'one signature more: Unspecified');
      await greedy.whenClosed();
    } finally {
      greedy.close();
    }
    const again = await SpdmRawClient.open({ port: s.responder.port });
    try {
      await completeSignedMeasurements(again);
    } finally {
      again.close();
    }
  });

  it('cuts off a connection that floods it with requests, and serves the others meanwhile', async () => {
    const noisy = await SpdmRawClient.open({ port: s.responder.port });
    const flood = Array.from({ length: 200 }, (_, i) => [...encodeTcpFrame(Uint8Array.of(0x12, 0x80 + (i % 0x7f), i, i))]);
    noisy.writeRaw(Uint8Array.from(flood.flat()));
    const report = await attest({ host: '127.0.0.1', port: s.responder.port, transport: 'tcp', roots: [s.id.rootDer], timeoutMs: TIMEOUT_MS });
    assert.equal(report.version, '1.2');
    await noisy.whenClosed();
    await eventually(() => s.sessions.some((e) => /without waiting for their responses/.test(e.reason ?? '')));
  });
});
