/**
 * The metrics server when the daemon cannot accept a connection (docs/operations.md, "Metrics and
 * health"): out of file descriptors (its RLIMIT_NOFILE lowered to 0 with prlimit), every accept()
 * fails with EMFILE. Node retries it by itself: the scrape waits in the listener's queue, nothing is
 * logged, the daemon keeps answering on the bus, and once descriptors are free again the scrape is
 * answered and the server serves on.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { describe, it } from 'node:test';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { eventually, freePort, getProperty } from '../harness/daemon.ts';
import { getMetricsPath } from '../harness/metrics-scrape.ts';
import { mustRun } from '../harness/run-tool.ts';
import { queuedConnections } from '../harness/socket-queues.ts';

const DEADLINE_MS = 60_000;

/** The soft and hard RLIMIT_NOFILE of `pid`, as prlimit prints them. */
async function openFileLimit(pid: number): Promise<{ soft: string; hard: string }> {
  const out = await mustRun('prlimit', ['--pid', String(pid), '--nofile', '--output=SOFT,HARD', '--noheadings']);
  const [soft, hard] = out.trim().split(/\s+/);
  assert.ok(soft && hard, `prlimit printed ${out}`);
  return { soft, hard };
}

/** GET /metrics on a connection of its own (fetch would reuse one already accepted), with a deadline. */
function scrapeOnNewConnection(port: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: DEADLINE_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from 127.0.0.1:${port} within ${DEADLINE_MS / 1000} s`)));
    req.on('error', reject);
  });
}

describe('metrics server out of file descriptors', () => {
  const fixture = useBusFixture();

  it('a scrape waits while accept() fails, nothing is logged, the bus keeps answering, and the scrape is answered once descriptors are free', async () => {
    const port = await freePort();
    const daemon = await fixture.startDaemon({ config: { name: 'bmc-nofile', metrics_port: port } });
    assert.equal((await getMetricsPath(port, '/healthz')).status, 200, daemon.output());
    const limit = await openFileLimit(daemon.pid);
    const restore = () => mustRun('prlimit', ['--pid', String(daemon.pid), `--nofile=${limit.soft}:${limit.hard}`]);
    fixture.cleanup(async () => {
      if (daemon.process.exitCode === null) await restore();
    });

    await mustRun('prlimit', ['--pid', String(daemon.pid), `--nofile=0:${limit.hard}`]);
    const scrape = scrapeOnNewConnection(port);
    // Caught here, awaited below: a failure before then is the test's, not an unhandled rejection.
    scrape.catch(() => undefined);
    assert.ok(await eventually(async () => (await queuedConnections(port)) > 0, DEADLINE_MS), `the scrape waits in the listener's queue\n${daemon.output()}`);
    // A call answered after the connection was queued: the daemon's loop has run since, and the
    // listener was ready then, so its accept() has been tried, and failed (the connection still waits).
    assert.equal(await getProperty(fixture.bus(), 'provisioned'), 'false', `the daemon answers on the bus while out of descriptors\n${daemon.output()}`);
    assert.ok((await queuedConnections(port)) > 0, 'the accept failed: the scrape still waits in the queue');

    await restore();
    const answered = await scrape;
    assert.equal(answered.status, 200, daemon.output());
    assert.match(answered.text, /^provisioning_provisioned 0$/m, 'the waiting scrape gets the metrics');
    assert.equal(daemon.process.exitCode, null, 'the daemon runs on');
    assert.equal((await getMetricsPath(port, '/healthz')).status, 200, 'and is healthy');
    assert.match((await getMetricsPath(port, '/metrics')).text, /^provisioning_provisioned 0$/m, 'the server serves on');
    assert.doesNotMatch(daemon.output(), /METRICS_FAILED|EMFILE/, `a failed accept is retried, not logged\n${daemon.output()}`);
  });
});
