/**
 * attestationd's SPDM responder under a flood on loopback: a cap on concurrent connections
 * (`max_connections`) that holds, connections beyond it closed at once with a rate-limited log
 * line, the admitted connections served, nothing verified that should not be, and attestationd's
 * memory back near its baseline afterwards (VmRSS from /proc, a generous bound: a flood must not
 * cost memory for good). A chunk of queued requests is cut off after the first 33; clients
 * that dribble bytes to hold every slot lose them when their connection's lifetime ends; one
 * address gets at most 4 connections at once.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { before, describe, it } from 'node:test';
import { attest, isSpdmError } from '../../src/spdm/index.ts';
import { encodeTcpFrame, FrameDecoder } from '../../src/spdm/transport.ts';
import { GET_VERSION, SpdmRawClient } from '../harness/spdm-raw-client.ts';
import { createAttestationd, startAttestationd, type AttestationdSetup } from '../harness/attestationd.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { eventually, type DaemonHandle } from '../harness/daemon.ts';
import { runTool } from '../harness/run-tool.ts';

const CAP = 16;
const FLOOD = 200;
const ROUNDS = 3;
/** How far above its baseline attestationd's resident memory may stay after the flood. */
const RSS_BOUND_MIB = 15;
/** Hang protection on a loaded machine, not a timing claim. */
const DEADLINE_MS = 60_000;

/** attestationd's resident set (VmRSS), MiB. */
function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  assert.ok(kib, `no VmRSS for ${pid}`);
  return Number(kib) / 1024;
}

/** A raw TCP connection to the responder that notes whether the responder closed it and what it answered. */
interface RawConnection {
  readonly socket: Socket;
  closed: boolean;
  readonly answers: Uint8Array[];
}

function openRaw(port: number, localAddress: string): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    const decoder = new FrameDecoder('tcp', 0xffff);
    const c: RawConnection = { socket, closed: false, answers: [] };
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) if (f.kind === 'spdm') c.answers.push(f.message);
    });
    socket.on('close', () => {
      c.closed = true;
    });
    socket.on('error', () => undefined); // a dropped connection may be reset: that is the point
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
  });
}

/** TCP connections the responder on `port` still holds (accepted, and not yet closed on its side), from ss. */
async function responderConnections(port: number): Promise<number> {
  const r = await runTool('ss', ['-H', '-tn', 'state', 'established', 'state', 'close-wait', `( sport = :${port} )`]);
  if (r.code !== 0) throw new Error(`ss exited ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim()).length;
}

/** An attestationd with `config` on its own private bus for the enclosing describe: started in `before`, stopped with the bus. */
function useAttestationd(name: string, config: Record<string, unknown>): { readonly setup: AttestationdSetup; readonly daemon: DaemonHandle; readonly root: Uint8Array } {
  const fixture = useBusFixture();
  let started: { setup: AttestationdSetup; daemon: DaemonHandle; root: Uint8Array } | undefined;
  const get = () => {
    if (!started) throw new Error(`${name}'s attestationd is not started`);
    return started;
  };
  before(
    async () => {
      const setup = await createAttestationd({ dir: fixture.tempDir(`attd-${name}-`), name, config });
      const daemon = await startAttestationd({ bus: fixture.bus(), setup });
      fixture.cleanup(() => daemon.stop());
      started = { setup, daemon, root: new Uint8Array(new X509Certificate(setup.rootPem).raw) };
    },
    { timeout: 120_000 },
  );
  return {
    get setup() {
      return get().setup;
    },
    get daemon() {
      return get().daemon;
    },
    get root() {
      return get().root;
    },
  };
}

describe('attestationd SPDM responder under a flood', () => {
  // request_timeout and attest_timeout (a connection's lifetime) long enough that the admitted
  // idle connections stay open while the test looks at them.
  const bmc = useAttestationd('bmc-f', { max_connections: CAP, request_timeout: 120, attest_timeout: 120 });
  const attestOnce = () => attest({ host: '127.0.0.1', port: bmc.setup.spdmPort, transport: 'tcp', roots: [bmc.root], timeoutMs: DEADLINE_MS });

  it(`serves at most max_connections (${CAP}) at once: the rest is closed at once, logged rate-limited; the admitted ones are served`, async () => {
    // From FLOOD / 4 source addresses, 4 each: no address exceeds its own limit, only max_connections counts.
    const opened = await Promise.allSettled(Array.from({ length: FLOOD }, (_, i) => openRaw(bmc.setup.spdmPort, `127.0.0.${10 + (i % (FLOOD / 4))}`)));
    const conns = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      const refused = opened.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      assert.deepEqual(refused, [], 'every connection reaches the responder (the cap closes, it never refuses)');
      const dropped = () => conns.filter((c) => c.closed).length;
      assert.ok(await eventually(() => dropped() >= FLOOD - CAP, DEADLINE_MS), `only ${dropped()} of ${FLOOD} idle connections were closed`);
      const admitted = conns.filter((c) => !c.closed);
      assert.equal(admitted.length, CAP, 'exactly max_connections connections are kept');
      for (const c of admitted) c.socket.write(encodeTcpFrame(Uint8Array.of(0x10, 0x84, 0, 0)));
      assert.ok(await eventually(() => admitted.every((c) => c.answers.length > 0), DEADLINE_MS), 'every admitted connection answers GET_VERSION');
      for (const c of admitted) assert.equal(c.answers[0]?.[1], 0x04, 'VERSION');
      assert.equal(dropped(), FLOOD - CAP, 'the admitted connections stay open');
    } finally {
      for (const c of conns) c.socket.destroy();
    }
    const line = /SPDM connection dropped: max_connections \(16\) reached/g;
    assert.ok(await bmc.daemon.waitForOutput(/more SPDM_CONNECTION_DROPPED warnings in the last 10 s were not logged \(rate limit\)/, DEADLINE_MS), bmc.daemon.output());
    assert.equal(bmc.daemon.output().match(line)?.length, 20, 'the first 20 drops of a window are logged, the rest counted in one line');
  });

  it('stops reading a chunk of requests once more than 32 are queued: a malformed frame after them is never reached', async () => {
    const c = await SpdmRawClient.open({ port: bmc.setup.spdmPort });
    const peer = `127\\.0\\.0\\.1:${c.socket.localPort ?? 0}\\b`;
    try {
      const requests = Array.from({ length: 40 }, () => encodeTcpFrame(GET_VERSION));
      // PayloadLength 1: a framing error, answered with the DSP0287 error 0xC0, had it been decoded.
      c.writeRaw(Buffer.concat([...requests, Uint8Array.of(0x01, 0x00, 0x01, 0x05)]));
      assert.equal(await c.binding(), undefined, 'closed without a DSP0287 error: the malformed frame was never decoded');
      await c.whenClosed();
      assert.ok(await bmc.daemon.waitForOutput(new RegExp(`SPDM requester floods the responder, closing the connection.*peer=${peer}`), DEADLINE_MS), bmc.daemon.output());
      assert.doesNotMatch(bmc.daemon.output(), new RegExp(`SPDM framing error.*peer=${peer}`));
    } finally {
      c.close();
    }
  });

  it(`${ROUNDS} rounds of ${FLOOD} concurrent attestations: each is verified or refused at the door, and memory comes back`, async () => {
    await attestOnce(); // the code paths of a whole attestation are warm before the baseline
    const baseline = rssMiB(bmc.daemon.pid);
    for (let round = 0; round < ROUNDS; round++) {
      const results = await Promise.allSettled(Array.from({ length: FLOOD }, attestOnce));
      const verified = results.filter((r) => r.status === 'fulfilled').length;
      const refusals = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      assert.ok(verified >= 1, `round ${round}: some attestations were served`);
      const other = refusals.filter((e) => !(isSpdmError(e) && e.code === 'CONNECTION'));
      assert.deepEqual(other.map(String), [], `round ${round}: a refused attestation only ever saw its connection closed`);
    }
    // The requester gives up on a connection as soon as it is closed; the responder counts it (for
    // its limit per address) until it has seen the close itself. After the flood means: then.
    assert.ok(await eventually(async () => (await responderConnections(bmc.setup.spdmPort)) === 0, DEADLINE_MS, 200), 'the responder let go of the flood');
    const report = await attestOnce();
    assert.ok(report.measurements.length > 0, 'after the flood an attestation is served in full');
    let last = rssMiB(bmc.daemon.pid);
    const settled = await eventually(
      () => {
        last = rssMiB(bmc.daemon.pid);
        return last < baseline + RSS_BOUND_MIB;
      },
      DEADLINE_MS,
      500,
    );
    assert.ok(settled, `VmRSS ${last.toFixed(1)} MiB stayed above baseline ${baseline.toFixed(1)} + ${RSS_BOUND_MIB} MiB`);
    assert.equal(bmc.daemon.process.exitCode, null, 'attestationd kept running');
  });
});

describe('attestationd SPDM responder against clients that dribble bytes to hold every slot', () => {
  const SLOTS = 6;
  /** attest_timeout, s: also the longest an SPDM connection lasts. */
  const LIFETIME_S = 3;
  // request_timeout (the idle deadline) far beyond the test: only the lifetime can end these connections.
  const bmc = useAttestationd('bmc-d', { max_connections: SLOTS, request_timeout: 300, attest_timeout: LIFETIME_S });

  it('closes each connection attest_timeout after its accept, however it keeps sending, and serves an attestation after them', async () => {
    // From two addresses, so that the limit per address does not stop them first.
    const addresses = Array.from({ length: SLOTS }, (_, i) => `127.0.0.${1 + (i % 2)}`);
    const clients = await Promise.all(addresses.map((localAddress) => SpdmRawClient.open({ port: bmc.setup.spdmPort, localAddress })));
    const peers = clients.map((c, i) => `${(addresses[i] ?? '').replaceAll('.', '\\.')}:${c.socket.localPort ?? 0}`);
    // A header announcing a 4000-byte request, then one byte of it every 500 ms: never idle, never complete.
    const dribbles = clients.map((c) => {
      c.writeRaw(Uint8Array.of(0xa2, 0x0f, 0x01, 0x05));
      return setInterval(() => {
        if (!c.closed) c.writeRaw(Uint8Array.of(0));
      }, 500);
    });
    try {
      await Promise.all(clients.map((c) => c.whenClosed()));
    } finally {
      for (const t of dribbles) clearInterval(t);
      for (const c of clients) c.close();
    }
    for (const peer of peers) {
      const why = new RegExp(`attestation by ${peer} ended early: open for ${LIFETIME_S * 1000} ms, the longest a connection may last`);
      assert.ok(await bmc.daemon.waitForOutput(why, DEADLINE_MS), `${why.source}\n${bmc.daemon.output()}`);
    }
    const report = await attest({ host: '127.0.0.1', port: bmc.setup.spdmPort, transport: 'tcp', roots: [bmc.root], timeoutMs: DEADLINE_MS });
    assert.ok(report.measurements.length > 0, 'the slots are free again: an attestation is served in full');
  });
});

describe('attestationd SPDM responder against one address opening many connections', () => {
  /** DEFAULT_SPDM_MAX_CONNECTIONS_PER_ADDRESS. */
  const PER_ADDRESS = 4;
  // Idle deadline and lifetime far beyond the test: the connections held stay open while it looks.
  const bmc = useAttestationd('bmc-p', { max_connections: CAP, request_timeout: 300, attest_timeout: 300 });

  it(`gives one address at most ${PER_ADDRESS} connections at once: one more is closed at once and logged, other addresses are served`, async () => {
    const address = '127.0.0.77';
    const held = await Promise.all(Array.from({ length: PER_ADDRESS }, () => SpdmRawClient.open({ port: bmc.setup.spdmPort, localAddress: address })));
    try {
      for (const c of held) assert.equal((await c.ask(GET_VERSION))[1], 0x04, 'the first ones are served');
      const extra = await SpdmRawClient.open({ port: bmc.setup.spdmPort, localAddress: address });
      await extra.whenClosed();
      const line = new RegExp(`SPDM connection dropped: ${PER_ADDRESS} connections from 127\\.0\\.0\\.77 open already.*event=SPDM_CONNECTION_DROPPED`);
      assert.ok(await bmc.daemon.waitForOutput(line, DEADLINE_MS), bmc.daemon.output());
      assert.ok(held.every((c) => !c.closed), 'the admitted ones stay open');
      const report = await attest({ host: '127.0.0.1', port: bmc.setup.spdmPort, transport: 'tcp', roots: [bmc.root], timeoutMs: DEADLINE_MS });
      assert.ok(report.measurements.length > 0, 'another address is attested meanwhile');
    } finally {
      for (const c of held) c.close();
    }
  });
});
