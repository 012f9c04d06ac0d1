/**
 * An established peer link ends when the peer's leaf ends, in both directions, over real TLS on
 * 127.0.0.1: the handshake checked the leaf once, the pings would keep the link up for ever.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { LinkEvent, ResponderEvent } from '../../machines/events.ts';
import { CredentialHolder } from '../../src/pki/certificate/index.ts';
import type { TrustStore } from '../../src/pki/trust/index.ts';
import { BmcResponder } from '../../src/tls/bmc-responder.ts';
import type { LinkTimings } from '../../src/tls/link-timings.ts';
import { TlsLinkClient } from '../../src/tls/tls-link-client.ts';
import { captureLog, type CapturedLog } from '../harness/capture-log.ts';
import { eventually } from '../harness/daemon.ts';
import { stopProcess, waitForExit } from '../harness/stop-process.ts';
import { createTestPki, credentialsOf, crossTrust, holderOf, issueTestLeaf, type TestBmc, type TestLeaf, type TestPki } from '../harness/test-pki.ts';

// Pings every 100 ms and an idle timeout of 1.5 s: the link is kept alive well past the leaf's end unless the expiry closes it.
const TIMINGS: LinkTimings = { keepaliveIntervalMs: 100, keepaliveTimeoutMs: 2000, handshakeTimeoutMs: 5000, idleTimeoutMs: 1500 };
/** How long a short-lived leaf lives after its issuance: time enough for a loaded machine to bring the link up. */
const SHORT_LIFE_S = 12;
/** Generous deadline for each step; no assertion is about how long anything took. */
const DEADLINE_MS = 60_000;

describe('an established link ends with the peer leaf', () => {
  let pki: TestPki;
  let trustA: TrustStore;
  let trustB: TrustStore;
  const stops: (() => unknown)[] = [];

  before(async () => {
    pki = await createTestPki();
    ({ a: trustA, b: trustB } = await crossTrust(pki));
  }, { timeout: 300_000 });

  after(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  }, { timeout: 60_000 });

  /** A leaf of `bmc` for `eku` that ends SHORT_LIFE_S from now, with its exact notAfter. */
  async function shortLivedLeaf(bmc: TestBmc, eku: 'serverAuth' | 'clientAuth'): Promise<{ leaf: TestLeaf; notAfterMs: number }> {
    const leaf = await issueTestLeaf({ dir: pki.dir, ca: bmc.ca, stem: `${bmc.name}-${eku}-short-${Date.now()}`, commonName: bmc.name, dnsName: bmc.name, eku: [eku], validToDays: SHORT_LIFE_S / 86_400 });
    return { leaf, notAfterMs: Date.parse(new X509Certificate(leaf.certPem).validTo) };
  }

  /** bmc-a's responder and bmc-b's client linked to it, with the credentials given. */
  async function linkPair(o: { credsA: CredentialHolder; credsB: CredentialHolder }) {
    const serverLog = captureLog();
    const clientLog = captureLog();
    const inbound: ResponderEvent[] = [];
    const outbound: LinkEvent[] = [];
    const responder = new BmcResponder({ port: 0, host: '127.0.0.1', timings: TIMINGS, maxConnections: 8, credentials: o.credsA, trust: trustA, log: serverLog.log, onEvent: (e) => inbound.push(e) });
    stops.push(() => responder.close());
    const { port } = await responder.listen();
    const client = new TlsLinkClient({ target: { name: 'bmc-a', address: '127.0.0.1', port }, timings: TIMINGS, credentials: o.credsB, trust: trustB, log: clientLog.log, onEvent: (e) => outbound.push(e) });
    stops.push(() => client.close());
    client.start();
    assert.ok(await eventually(() => outbound.length > 0, DEADLINE_MS), 'the link came up');
    assert.equal(outbound[0]?.type, 'LINK_UP', `the link came up (the short-lived leaf was still valid): ${JSON.stringify(outbound)}`);
    assert.ok(await eventually(() => inbound.some((e) => e.type === 'INBOUND_UP'), DEADLINE_MS), 'the responder saw it come up');
    return { serverLog, clientLog, inbound, outbound };
  }

  const expiredLines = (log: CapturedLog) => log.records().filter((r) => r['event'] === 'PEER_LEAF_EXPIRED');

  it("the responder closes an inbound link when the client's leaf expires, and the client sees LINK_DOWN", async () => {
    const { leaf, notAfterMs } = await shortLivedLeaf(pki.b, 'clientAuth');
    const credsB = new CredentialHolder();
    credsB.set({ ...credentialsOf(pki.b), client: { keyPem: leaf.keyPem, certChainPem: leaf.chainPem, caPem: pki.b.ca.pem, notAfter: new Date(notAfterMs) } });
    const pair = await linkPair({ credsA: holderOf(pki.a), credsB });

    assert.ok(await eventually(() => pair.outbound.length > 1, DEADLINE_MS + SHORT_LIFE_S * 1000), 'the link went down');
    const closedAt = Date.now();
    const down = pair.outbound[1];
    assert.equal(down?.type, 'LINK_DOWN', JSON.stringify(pair.outbound));
    assert.ok(closedAt > notAfterMs, 'not before the leaf ended');
    const at = new Date(notAfterMs).toISOString();
    assert.ok(await eventually(() => pair.inbound.some((e) => e.type === 'INBOUND_DOWN'), DEADLINE_MS));
    const inboundDown = pair.inbound.find((e) => e.type === 'INBOUND_DOWN');
    assert.deepEqual(inboundDown, { type: 'INBOUND_DOWN', peer: 'bmc-b', connectionId: 'in-1', reason: `peer leaf expired at ${at}` });
    const [line] = expiredLines(pair.serverLog);
    assert.equal(line?.['message'], `closing the inbound link of bmc-b: its client certificate expired at ${at}`);
    assert.equal(line?.['peer'], 'bmc-b');
    assert.equal(expiredLines(pair.clientLog).length, 0, "the client's view of the server's leaf is not concerned");
  });

  it("openssl s_client with a short-lived client leaf is closed by the responder when the leaf expires", async () => {
    const { leaf, notAfterMs } = await shortLivedLeaf(pki.b, 'clientAuth');
    const serverLog = captureLog();
    const inbound: ResponderEvent[] = [];
    // An idle_timeout far past the leaf's end: s_client sends Hello and nothing after it.
    const timings: LinkTimings = { ...TIMINGS, idleTimeoutMs: 10 * SHORT_LIFE_S * 1000 };
    const responder = new BmcResponder({ port: 0, host: '127.0.0.1', timings, maxConnections: 8, credentials: holderOf(pki.a), trust: trustA, log: serverLog.log, onEvent: (e) => inbound.push(e) });
    stops.push(() => responder.close());
    const { port } = await responder.listen();
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'bmc-a', '-CAfile', pki.a.ca.certFile, '-verify_return_error', '-quiet', '-cert', leaf.certFile, '-key', leaf.keyFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    stops.push(() => stopProcess(child));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.write('Hello\n'); // stdin stays open: s_client ends only when the server closes
    assert.ok(await eventually(() => stdout.includes('alive\n'), DEADLINE_MS), `no alive; stderr: ${stderr}`);
    await waitForExit(child, { timeoutMs: DEADLINE_MS + SHORT_LIFE_S * 1000, after: 'its leaf expired' });
    assert.ok(Date.now() > notAfterMs, 'not before the leaf ended');
    const at = new Date(notAfterMs).toISOString();
    assert.ok(await eventually(() => inbound.some((e) => e.type === 'INBOUND_DOWN'), DEADLINE_MS));
    assert.deepEqual(inbound.find((e) => e.type === 'INBOUND_DOWN'), { type: 'INBOUND_DOWN', peer: 'bmc-b', connectionId: 'in-1', reason: `peer leaf expired at ${at}` });
    assert.equal(expiredLines(serverLog)[0]?.['message'], `closing the inbound link of bmc-b: its client certificate expired at ${at}`);
  });

  it("the client ends its link when the server's leaf expires (LINK_DOWN), and the responder sees INBOUND_DOWN", async () => {
    const { leaf, notAfterMs } = await shortLivedLeaf(pki.a, 'serverAuth');
    const credsA = new CredentialHolder();
    credsA.set({ ...credentialsOf(pki.a), server: { keyPem: leaf.keyPem, certChainPem: leaf.chainPem, caPem: pki.a.ca.pem, notAfter: new Date(notAfterMs) } });
    const pair = await linkPair({ credsA, credsB: holderOf(pki.b) });

    assert.ok(await eventually(() => pair.outbound.length > 1, DEADLINE_MS + SHORT_LIFE_S * 1000), 'the link went down');
    assert.ok(Date.now() > notAfterMs, 'not before the leaf ended');
    const at = new Date(notAfterMs).toISOString();
    assert.deepEqual(pair.outbound[1], { type: 'LINK_DOWN', reason: `peer leaf expired at ${at}` });
    const [line] = expiredLines(pair.clientLog);
    assert.equal(line?.['message'], `closing the link to bmc-a: its server certificate expired at ${at}`);
    assert.ok(await eventually(() => pair.inbound.some((e) => e.type === 'INBOUND_DOWN'), DEADLINE_MS), 'the responder saw the link go down');
    assert.equal(expiredLines(pair.serverLog).length, 0);
  });
});
