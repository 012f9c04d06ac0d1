/**
 * A client that pings and never reads its replies is closed before they pile up in the responder.
 * Real TLS between two network namespaces (two BMCs on one segment). What the kernel absorbs first
 * is made small, so that the replies reach the responder's own write buffer within seconds instead
 * of hours (self-tuning socket buffers of megabytes at 59 pings a second): the responder's TCP send
 * buffer is 4 KiB, and once the link is up the client's namespace drops every segment from the
 * responder that carries data (its pure ACKs still pass, so the pings keep flowing). A Linux client
 * whose own receive buffer fills up wedges its connection instead (it stops pinging and
 * idle_timeout closes it), which is why the buffer is not simply left full.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_UNREAD_REPLY_BYTES } from '../../src/tls/inbound-link.ts';
import { REPO, eventually } from '../harness/daemon.ts';
import { createRack, type Rack } from '../harness/netns.ts';
import { stopProcess, waitForExit } from '../harness/stop-process.ts';
import { createTestPki, writePkiFile, type TestPki } from '../harness/test-pki.ts';
import type { ResponderReport } from '../fixtures/peer-link/responder.ts';
import type { UnreadRepliesClientReport } from '../fixtures/peer-link/unread-replies-client.ts';

/** The responder's socket send buffer (min, default, max bytes): no self-tuning up to megabytes. */
const SMALL_SEND_BUFFER = '4096 4096 4096';
/** The client's own deadline (150 s of pinging) plus room for a loaded machine. */
const CLIENT_DEADLINE_MS = 240_000;
const STARTUP_MS = 60_000;

/** A fixture process's stdout, line by line as JSON. */
function jsonLines(child: ChildProcess): { lines: () => unknown[]; stderr: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { lines: () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as unknown), stderr: () => err };
}

describe('peer link: a client that never reads its replies', () => {
  let rack: Rack | undefined;
  let pki: TestPki;
  const children: ChildProcess[] = [];

  before(async () => {
    pki = await createTestPki();
    rack = await createRack({ size: 2, subnet: 91 });
    const server = rack.nodes[0];
    assert.ok(server);
    const r = await rack.exec(server, 'sysctl', ['-qw', `net.ipv4.tcp_wmem=${SMALL_SEND_BUFFER}`]);
    assert.equal(r.code, 0, `sysctl in the responder's namespace: ${r.stderr}`);
    const client = rack.nodes[1];
    assert.ok(client);
    // Without TCP timestamps a pure ACK is a 40-byte IP packet, a segment with a reply at least 68.
    const c = await rack.exec(client, 'sysctl', ['-qw', 'net.ipv4.tcp_timestamps=0']);
    assert.equal(c.code, 0, `sysctl in the client's namespace: ${c.stderr}`);
  }, { timeout: 300_000 });

  after(async () => {
    for (const c of children) await stopProcess(c);
    await rack?.teardown();
    rmSync(pki.dir, { recursive: true, force: true });
  }, { timeout: 120_000 });

  it('is closed with the reason in the log, and the real peer link beside it stays up', async () => {
    assert.ok(rack);
    const [serverNode, clientNode] = rack.nodes;
    assert.ok(serverNode && clientNode);
    const pkiFile = writePkiFile(pki);
    const tsx = (fixture: string, ...args: string[]) => [process.execPath, ['--import', 'tsx', join(REPO, 'test/fixtures/peer-link', fixture), pkiFile, ...args]] as const;

    const [node, serverArgs] = tsx('responder.ts', serverNode.address);
    const server = rack.spawn(serverNode, node, serverArgs, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(server);
    const serverOut = jsonLines(server);
    assert.ok(await eventually(() => serverOut.lines().length > 0, STARTUP_MS), `the responder did not start: ${serverOut.stderr()}`);
    const { port } = serverOut.lines()[0] as { port: number };

    const [, clientArgs] = tsx('unread-replies-client.ts', serverNode.address, String(port));
    const client = rack.spawn(clientNode, node, clientArgs, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(client);
    const clientOut = jsonLines(client);
    assert.ok(await eventually(() => clientOut.lines().length > 0, STARTUP_MS), `the client did not connect: ${clientOut.stderr()}`);
    // From now on nothing the responder sends reaches the client: no byte of data (options such as
    // SACK blocks fit under 60 bytes), while its ACKs of the pings do.
    const nft = (...args: string[]) => rack?.exec(clientNode, 'nft', args);
    for (const args of [
      ['add', 'table', 'inet', 'unread'],
      ['add', 'chain', 'inet', 'unread', 'in', '{ type filter hook input priority 0; policy accept; }'],
      ['add', 'rule', 'inet', 'unread', 'in', 'ip', 'saddr', serverNode.address, 'tcp', 'sport', String(port), 'ip', 'length', '>', '60', 'drop'],
    ]) {
      const done = await nft(...args);
      assert.equal(done?.code, 0, `nft ${args.join(' ')}: ${done?.stderr}`);
    }
    await waitForExit(client, { timeoutMs: CLIENT_DEADLINE_MS, after: 'pinging without reading' });
    const seen = clientOut.lines()[1] as UnreadRepliesClientReport | undefined;
    assert.ok(seen, `the client reported nothing: ${clientOut.stderr()}`);

    server.kill('SIGTERM');
    await waitForExit(server, { timeoutMs: 30_000, after: 'SIGTERM' });
    const report = serverOut.lines()[1] as ResponderReport | undefined;
    assert.ok(report, `the responder reported nothing: ${serverOut.stderr()}`);

    assert.equal(seen.closed, true, `the client was never closed (${seen.linesSent} lines sent, no reply read); the responder logged ${JSON.stringify(report.downLogged)}`);
    const reason = `not reading: more than ${MAX_UNREAD_REPLY_BYTES} bytes of replies unread`;
    assert.deepEqual(report.downLogged[0], { message: `inbound link down: ${reason}`, peer: 'bmc-b', reason, code: 'in-2' }, 'the log says why');
    assert.ok(report.events.some((e) => e.type === 'INBOUND_DOWN' && e.connectionId === 'in-2' && e.reason === reason), JSON.stringify(report.events));
    assert.ok(seen.linesSent * 'alive\n'.length > MAX_UNREAD_REPLY_BYTES, 'it had sent more pings than the bound lets replies wait');
    assert.equal(report.peerEvents.length, 1, `the real peer link never went down: ${JSON.stringify(report.peerEvents)}`);
    assert.equal(report.peerEvents[0]?.type, 'LINK_UP');
  });
});
