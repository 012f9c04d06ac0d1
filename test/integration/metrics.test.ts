/**
 * metrics_port: a real daemon on a private bus serves Prometheus text and /healthz on loopback;
 * the figures follow what the daemon does (self-provisioning, a static peer that never answers,
 * foreign `openssl s_client` clients the responder refuses).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { acceptsConnections, busctl, eventually, freePort, IFACE, OBJECT, SERVICE } from '../harness/daemon.ts';
import { getMetricsPath, metricSample } from '../harness/metrics-scrape.ts';
import { makeTestCa, makeTestLeaf } from '../harness/openssl-test-ca.ts';
import { runTool } from '../harness/run-tool.ts';

const get = getMetricsPath;
const sample = metricSample;

describe('metrics and health (metrics_port)', () => {
  const fixture = useBusFixture();
  afterEach(() => fixture.stopDaemons(), { timeout: 120_000 });

  it('serves /metrics and /healthz on 127.0.0.1 only, and the figures follow the daemon', async () => {
    const port = await freePort();
    const deadPeer = await freePort();
    await fixture.startDaemon({
      config: { name: 'bmc-m', metrics_port: port, peers: [{ name: 'bmc-x', address: '127.0.0.1', port: deadPeer }], retry_base: 0.1, retry_timer: 0.5 },
    });
    const health = await get(port, '/healthz');
    assert.equal(health.status, 200, health.text);
    assert.equal(health.text, 'ok\n');

    let m = await get(port, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(m.text, 'provisioning_provisioned'), 0);
    assert.equal(sample(m.text, 'provisioning_peers{state="NotDetermined"}'), 0);
    assert.equal(sample(m.text, 'provisioning_certificate_expiry_timestamp_seconds{certificate="leaf"}'), undefined, 'no leaf yet');

    const r = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      await eventually(async () => {
        m = await get(port, '/metrics');
        return (sample(m.text, 'provisioning_link_failures_total{reason="connect_failed"}') ?? 0) >= 2;
      }, 30_000, 200),
      `the unreachable static peer shows up as connect failures:\n${m.text}`,
    );
    assert.equal(sample(m.text, 'provisioning_provisioned'), 1);
    assert.equal(sample(m.text, 'provisioning_token_call_duration_seconds_count{reason="provision",result="ok"}'), 1, 'one timed issuance');
    const expiry = sample(m.text, 'provisioning_certificate_expiry_timestamp_seconds{certificate="leaf"}') ?? 0;
    assert.ok(expiry > Date.now() / 1000 + 3600, `leaf expiry in the future: ${expiry}`);
    const down = (sample(m.text, 'provisioning_peers{state="NotConnected"}') ?? 0) + (sample(m.text, 'provisioning_peers{state="InProgress"}') ?? 0);
    assert.equal(down, 1, 'the one peer is NotConnected or being dialled');
    assert.ok((sample(m.text, 'provisioning_handshakes_total{direction="outbound",result="failed"}') ?? 0) >= 2);

    assert.equal((await get(port, '/metrics', 'POST')).status, 405);
    assert.equal((await get(port, '/other')).status, 404);
    // 127.0.0.2 is loopback too: a server bound to every address would answer there.
    const reached = await acceptsConnections(port, '127.0.0.2');
    assert.equal(reached, false, 'listens on 127.0.0.1 only');
  });

  it('a foreign client the responder refuses counts as an inbound handshake that failed', async () => {
    const port = await freePort();
    const d = await fixture.startDaemon({ config: { name: 'bmc-r', metrics_port: port } });
    const r = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await d.waitForOutput(/event=RESPONDER_UP/), `the responder listens once provisioned\n${d.output()}`);
    const inbound = async (result: 'ok' | 'failed') =>
      sample((await get(port, '/metrics')).text, `provisioning_handshakes_total{direction="inbound",result="${result}"}`);
    assert.equal(await inbound('failed'), 0);

    // A client that sends Hello without any certificate, then one whose certificate no trusted CA issued.
    const dir = fixture.tempDir('metrics-foreign-');
    const ca = await makeTestCa({ dir, stem: 'foreign-ca', subject: '/CN=foreign CA' });
    const leaf = await makeTestLeaf({ ca, dir, stem: 'foreign', name: 'bmc-f' });
    const clients = [[], ['-cert', leaf, '-key', leaf.replace(/\.pem$/, '.key')]];
    for (const [i, certArgs] of clients.entries()) {
      const c = await runTool('openssl', ['s_client', '-connect', `127.0.0.1:${String(d.config['port'])}`, '-brief', ...certArgs], {
        input: 'Hello\n',
        timeoutMs: 30_000,
      });
      assert.doesNotMatch(c.stdout, /alive/, `the responder refused client ${i + 1}`);
      const counted = await eventually(async () => (await inbound('failed')) === i + 1, 30_000, 100);
      assert.ok(counted, `inbound failed handshakes: ${await inbound('failed')}, expected ${i + 1}\n${d.output()}`);
    }
    assert.match(d.output(), /handshake refused: .*event=HANDSHAKE_FAILED/);
    assert.equal(await inbound('ok'), 0, 'no inbound link came up');
  });

  it('metrics_port 0 (the default) opens no port', async () => {
    const port = await freePort();
    const d = await fixture.startDaemon({ config: { name: 'bmc-n' } });
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }));
    assert.doesNotMatch(d.output(), /metrics at/);
  });
});
