/**
 * Acceptance of the peer link: two daemons, each on its own private bus with its own port and
 * cert_root, each provisioned, each trusting the other's CA and naming the other as a static peer.
 * peerConnected is read with busctl, exactly as an operator would.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/index.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, freePort, getProperty, IFACE, OBJECT, SERVICE, STATUS, type DaemonHandle } from '../harness/daemon.ts';
import { daemonTrustDir } from '../harness/daemon-trust-dir.ts';
import type { PrivateBus } from '../harness/private-bus.ts';
import { selfProvisioningFilesExist } from '../harness/self-provisioning-files.ts';

const CONNECTED = `${STATUS}.Connected`;
const NOT_CONNECTED = `${STATUS}.NotConnected`;
/**
 * Keep-alive 0.5 s + timeout 1 s: a silent peer's outbound link is down within 1.5 s, its inbound
 * link within idle_timeout (3 s); retries at most 1 s apart.
 */
const LINK_CONFIG = { keepalive_interval: 0.5, keepalive_timeout: 1, idle_timeout: 3, handshake_timeout: 2, retry_base: 0.2, retry_timer: 1 };
/** Deadline for "eventually"; the detection time itself is measured in bench/tls.bench.ts. */
const DEADLINE_MS = 30_000;

describe('two daemons hold a mutual-TLS link', () => {
  const fixture = useBusFixture();
  afterEach(() => fixture.stopDaemons(), { timeout: 120_000 });

  interface Bmc {
    readonly name: string;
    readonly port: number;
    readonly dir: string;
    readonly bus: PrivateBus;
    readonly config: Record<string, unknown>;
    daemon?: DaemonHandle;
  }

  const start = async (b: Bmc) => {
    b.daemon = await fixture.startDaemon({ bus: b.bus, dir: b.dir, config: b.config });
    return b.daemon;
  };
  const peerConnected = (b: Bmc) => getProperty(b.bus, 'peerConnected');
  const becomes = (b: Bmc, status: string) => eventually(async () => (await peerConnected(b)) === status, DEADLINE_MS, 50);
  const certRoot = (b: Bmc) => String(b.config['cert_root']);

  /**
   * bmc-a and bmc-b, each on its own bus and port, naming the other as a static peer, both
   * self-provisioned; no CA placed yet. `linkConfigB` defaults to bmc-a's.
   */
  const startPair = async (linkConfig: Record<string, unknown>, linkConfigB = linkConfig): Promise<[Bmc, Bmc]> => {
    const [portA, portB] = [await freePort(), await freePort()];
    const make = (name: string, port: number, peer: { name: string; port: number }, bus: PrivateBus, link: Record<string, unknown>): Bmc => {
      const dir = fixture.tempDir(`pd-${name}-`);
      const config = {
        name,
        port,
        cert_root: `${join(dir, 'root')}/`,
        state_dir: join(dir, 'state'),
        peers: [{ name: peer.name, address: '127.0.0.1', port: peer.port }],
        ...link,
      };
      return { name, port, dir, bus, config };
    };
    const a = make('bmc-a', portA, { name: 'bmc-b', port: portB }, fixture.bus(), linkConfig);
    const b = make('bmc-b', portB, { name: 'bmc-a', port: portA }, await fixture.newBus(), linkConfigB);
    for (const bmc of [a, b]) {
      await start(bmc);
      const r = await busctl(bmc.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
      assert.equal(r.code, 0, r.stderr);
      assert.ok(await eventually(() => selfProvisioningFilesExist(certRoot(bmc)), DEADLINE_MS), `${bmc.name} wrote its certificates`);
    }
    return [a, b];
  };
  /** `to` trusts `from`'s CA: its self_ca.pem placed in `to`'s trust directory (trust_dir). */
  const placeCa = (from: Bmc, to: Bmc) => {
    const dir = daemonTrustDir(to.config);
    mkdirSync(dir, { recursive: true });
    copyFileSync(certPaths(certRoot(from)).selfCa, join(dir, `${from.name}-ca.pem`));
  };

  it('both Connected; a hung or SIGKILLed one is NotConnected on the other; after a restart both are Connected again', async () => {
    const [a, b] = await startPair(LINK_CONFIG);
    // Each trusts the other's CA.
    placeCa(a, b);
    placeCa(b, a);

    assert.ok(await becomes(a, CONNECTED), `bmc-a: ${await peerConnected(a)}\n${a.daemon?.output()}`);
    assert.ok(await becomes(b, CONNECTED), `bmc-b: ${await peerConnected(b)}\n${b.daemon?.output()}`);

    // A hung peer (stopped, its sockets still open): only the keep-alive on bmc-a's outbound link and
    // the idle timeout on its inbound link can tell. The aggregate drops once both have.
    b.daemon?.kill('SIGSTOP');
    assert.ok(await becomes(a, NOT_CONNECTED), `bmc-a while bmc-b hangs: ${await peerConnected(a)}`);
    // Normally the keep-alive catches it; on a loaded machine the link may have been reconnecting
    // just then, and the attempt into the hung peer times out instead. Either way bmc-a says why.
    assert.match(
      a.daemon?.output() ?? '',
      /peer=bmc-b event=LINK_(DOWN|FAILED) reason=(no alive within 1 s of ping|no TLS connection within 2 s|no alive to Hello within 2 s)/,
      'bmc-a says why the link went down',
    );
    b.daemon?.kill('SIGCONT');
    assert.ok(await becomes(a, CONNECTED), `bmc-a after bmc-b resumed: ${await peerConnected(a)}`);
    assert.ok(await becomes(b, CONNECTED), `bmc-b after it resumed: ${await peerConnected(b)}`);

    b.daemon?.kill('SIGKILL');
    await b.daemon?.exited();
    assert.ok(await becomes(a, NOT_CONNECTED), `bmc-a after bmc-b died: ${await peerConnected(a)}`);
    assert.match(a.daemon?.output() ?? '', /peer=bmc-b/, 'bmc-a logged the lost link with the peer name');

    await start(b);
    assert.ok(await becomes(b, CONNECTED), `bmc-b after restart: ${await peerConnected(b)}\n${b.daemon?.output()}`);
    assert.ok(await becomes(a, CONNECTED), `bmc-a after bmc-b restarted: ${await peerConnected(a)}\n${a.daemon?.output()}`);
  });

  it('a link waiting out a long retry dials at once when the peer, trusting us now, dials in', async () => {
    // bmc-a: one fast retry (0.2 s), then one every 600 s, so only bmc-b dialling in can bring its
    // link up within the deadline. bmc-b retries at least every second.
    const [a, b] = await startPair({ ...LINK_CONFIG, retry_count: 1, retry_timer: 600 }, LINK_CONFIG);
    // bmc-a trusts bmc-b, bmc-b does not trust bmc-a yet: bmc-a's dials fail (bmc-b not listening
    // yet, or closing the handshake) until it waits out the long retry.
    placeCa(b, a);
    const states = () => [...(a.daemon?.output() ?? '').matchAll(/peer=bmc-b state=(\S+) event=(\S+)/g)].map((m) => ({ state: m[1], event: m[2] }));
    const waitingLong = () => {
      const all = states();
      const failures = all.filter((x) => x.event === 'LINK_FAILED' || x.event === 'LINK_REJECTED').length;
      return failures >= 2 && all.at(-1)?.state === '{"NotConnected":"Backoff"}';
    };
    assert.ok(await eventually(waitingLong, DEADLINE_MS, 50), `bmc-a's dials of bmc-b failed twice; it waits 600 s\n${a.daemon?.output()}`);
    placeCa(a, b);
    // bmc-b trusts bmc-a now and dials it; bmc-a accepts, and dials bmc-b back at once.
    assert.ok(
      (await a.daemon?.waitForOutput(/peer=bmc-b state=\S+ event=PEER_DIALLED_IN/, DEADLINE_MS)) === true,
      `bmc-a's waiting link is woken by bmc-b dialling in\n${a.daemon?.output()}`,
    );
    assert.ok(
      (await a.daemon?.waitForOutput(/peer=bmc-b state=\S+ event=LINK_UP/, DEADLINE_MS)) === true,
      `bmc-a's own link to bmc-b is up, long before its next retry\n${a.daemon?.output()}`,
    );
    assert.ok(await becomes(b, CONNECTED), `bmc-b: ${await peerConnected(b)}`);
  });
});
