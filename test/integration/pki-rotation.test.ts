import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { busctl, eventually, IFACE, OBJECT, SERVICE, startDaemon, type DaemonHandle } from '../harness/daemon.ts';
import { daemonTrustDir } from '../harness/daemon-trust-dir.ts';
import { makeTestCa, makeTestLeaf } from '../harness/openssl-test-ca.ts';
import { startPrivateBus, type PrivateBus } from '../harness/private-bus.ts';
import { runTool } from '../harness/run-tool.ts';

const LIFETIME_S = 4;

/** The leaf certificate the responder presents right now, seen by `openssl s_client` with a trusted client cert. */
async function servedLeaf(port: number, client: { cert: string; key: string }, caFile: string): Promise<X509Certificate> {
  const showcerts = await runTool(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-cert', client.cert, '-key', client.key, '-CAfile', caFile, '-verify_return_error', '-showcerts'],
    { input: '', timeoutMs: 10_000 },
  );
  assert.match(showcerts.stdout, /Verify return code: 0 \(ok\)/, `the served chain verifies against self_ca.pem: ${showcerts.stderr}`);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(showcerts.stdout)?.[0];
  assert.ok(pem, `s_client showed no certificate: ${showcerts.stderr}`);
  return new X509Certificate(pem);
}

describe('leaf rotation (leaf_lifetime of a few seconds)', () => {
  let bus: PrivateBus;
  let daemon: DaemonHandle;
  const dir = mkdtempSync(join(tmpdir(), 'rotation-'));
  const client = { cert: '', key: '' };
  let certs = '';
  let link: TLSSocket | undefined;

  before(async () => {
    bus = await startPrivateBus();
    daemon = await startDaemon({
      bus,
      config: { name: 'bmc-rot', leaf_lifetime: LIFETIME_S, keepalive_interval: 0.5, keepalive_timeout: 1, idle_timeout: 5 },
    });
    certs = join(String(daemon.config['cert_root']), 'etc/ssl/certs');
    // A peer the responder trusts: its CA goes into the trust directory.
    const ca = await makeTestCa({ dir, stem: 'peer-ca', subject: '/CN=peer CA' });
    client.cert = await makeTestLeaf({ ca, dir, stem: 'peer', name: 'bmc-peer' });
    client.key = join(dir, 'peer.key');
    mkdirSync(daemonTrustDir(daemon.config), { recursive: true });
    copyFileSync(ca.certFile, join(daemonTrustDir(daemon.config), 'peer-ca.pem'));
  }, { timeout: 300_000 });

  after(async () => {
    link?.destroy();
    await daemon?.stop();
    await bus?.stop();
  }, { timeout: 120_000 });

  it('reissues the leaves before they expire, writes the new chain, serves it, and keeps live links', async () => {
    const call = await busctl(bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, call.stderr);
    const first = new X509Certificate(readFileSync(join(certs, 'https/server_cert.pem')));
    const caFile = join(certs, 'self_ca.pem');
    assert.equal((await servedLeaf(Number(daemon.config['port']), client, caFile)).fingerprint256, first.fingerprint256);

    // An established link, pinging across the rotation. The CA placed by hand reaches the responder
    // through the trust store's directory watch, so the first attempts may still be refused.
    let alive = 0;
    let closed: string | false = false;
    const open = () =>
      new Promise<TLSSocket | undefined>((resolve) => {
        const s = connect({
          host: '127.0.0.1',
          port: Number(daemon.config['port']),
          cert: readFileSync(client.cert),
          key: readFileSync(client.key),
          ca: readFileSync(caFile),
          servername: 'bmc-rot',
          checkServerIdentity: () => undefined,
        });
        const fail = () => {
          s.destroy();
          resolve(undefined);
        };
        s.once('error', fail);
        s.once('close', fail);
        s.once('secureConnect', () => s.write('Hello\n'));
        s.once('data', (d: Buffer) => {
          if (d.toString() !== 'alive\n') return fail();
          s.removeListener('error', fail);
          s.removeListener('close', fail);
          resolve(s);
        });
      });
    const linked = async () => {
      link = await open();
      return link !== undefined;
    };
    assert.ok(await eventually(linked, 5000, 200), 'a trusted peer could not link');
    link?.on('data', (d: Buffer) => (alive += d.toString().split('alive\n').length - 1));
    link?.on('close', () => (closed = closed || `closed after ${alive} alive`));
    link?.on('error', (err) => (closed = `error: ${err.message}`));
    const pinger = setInterval(() => link?.write('ping\n'), 400);

    const rotated = await eventually(() => {
      const now = new X509Certificate(readFileSync(join(certs, 'https/server_cert.pem')));
      return now.fingerprint256 !== first.fingerprint256;
    }, LIFETIME_S * 1000 + 3000, 100);
    assert.ok(rotated, 'server_cert.pem was not reissued within the lifetime');
    const second = new X509Certificate(readFileSync(join(certs, 'https/server_cert.pem')));
    assert.ok(new Date(second.validFrom) < new Date(first.validTo) || Date.now() < Date.parse(first.validTo),
      'the new leaf was issued before the old one expired');
    assert.notEqual(second.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'),
      first.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'), 'a fresh key, not the same key re-signed');
    assert.equal(readFileSync(join(certs, 'https/client_cert.pem'), 'utf8').includes(second.toString().trim()), true);

    const served = await eventually(async () => {
      const leaf = await servedLeaf(Number(daemon.config['port']), client, caFile);
      return leaf.fingerprint256 !== first.fingerprint256;
    }, 3000, 200);
    assert.ok(served, 'new connections still get the old certificate');

    const aliveAtRotation = alive;
    await new Promise((r) => setTimeout(r, 1200));
    clearInterval(pinger);
    assert.equal(closed, false, 'the established link was dropped by the rotation');
    assert.ok(alive > aliveAtRotation, 'the established link stopped answering after the rotation');
  });
});
