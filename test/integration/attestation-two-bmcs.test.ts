/**
 * The project's central promise, end to end: two BMCs (provisioningd + attestationd each, each pair
 * on its own private bus), static peers and NO CA placed by hand. The link stays down until one
 * operator call, ProvisionPeer("bmc-b") on bmc-a: bmc-a attests bmc-b over SPDM, bmc-b's
 * attestationd reports that it was attested, bmc-b attests bmc-a back, and only then are both
 * Connected. A certificate for another name from an attested CA is refused.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { softwareTokenPaths } from '../../src/pki/token/software-token.ts';
import { pairCertRoot, pairOutput, startAttestedPair, type PairBmc } from '../harness/attested-pair.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, getProperty, IFACE, OBJECT, SERVICE, STATUS } from '../harness/daemon.ts';
import { makeTestLeaf } from '../harness/openssl-test-ca.ts';
import { runTool } from '../harness/run-tool.ts';

const CONNECTED = `${STATUS}.Connected`;
const LINK_CONFIG = { keepalive_interval: 0.5, keepalive_timeout: 1, idle_timeout: 3, handshake_timeout: 2, retry_base: 0.2, retry_timer: 1 };
const DEADLINE_MS = 60_000;

const certRoot = pairCertRoot;
const trustDir = (b: PairBmc) => join(b.dir, 'state', 'trust');
const trustedCaFiles = (b: PairBmc) => {
  const dir = trustDir(b);
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.pem')) : [];
};

describe('two BMCs trust each other only through attestation', () => {
  const fixture = useBusFixture();

  it('ProvisionPeer(bmc-b) on bmc-a alone: mutual attestation, both Connected, CAs bound to the attested names', async () => {
    const [a, b] = await startAttestedPair(fixture, { attestation_timeout: 30, ...LINK_CONFIG }, DEADLINE_MS);
    // Provisioned, dialling each other, but nobody trusts anybody: no link comes up.
    assert.ok(
      (await a.daemon?.waitForOutput(/peer=bmc-b event=LINK_REJECTED/, DEADLINE_MS)) === true,
      `bmc-a's first dial is refused: it does not trust bmc-b yet\n${a.daemon?.output()}`,
    );
    assert.notEqual(await getProperty(a.bus, 'peerConnected'), CONNECTED);
    assert.deepEqual([trustedCaFiles(a), trustedCaFiles(b)], [[], []], 'no CA was placed by hand');

    const r = await busctl(a.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-b');
    assert.equal(r.code, 0, r.stderr);

    const output = () => pairOutput([a, b]);
    for (const self of [a, b]) {
      assert.ok(
        await eventually(async () => (await getProperty(self.bus, 'peerConnected')) === CONNECTED, DEADLINE_MS, 100),
        `${self.name} Connected\n${output()}`,
      );
    }
    // bmc-b attested bmc-a because bmc-a had attested it, not because anybody asked bmc-b.
    assert.match(b.daemon?.output() ?? '', /attested by 127\.0\.0\.1 \(bmc-a\)/);
    assert.match(b.daemon?.output() ?? '', /attested bmc-a .*trusting its CA [0-9a-f]{64} for bmc-a only/);
    assert.match(a.daemon?.output() ?? '', /attested bmc-b .*trusting its CA [0-9a-f]{64} for bmc-b only/);

    // Each trust store holds the other's CA, bound to the attested name, readable by openssl.
    for (const [self, peer] of [[a, b], [b, a]] as const) {
      const files = trustedCaFiles(self);
      assert.equal(files.length, 1, `${self.name}: ${files.join(', ')}`);
      const text = readFileSync(join(trustDir(self), files[0] ?? ''), 'utf8');
      assert.match(text, new RegExp(`^Attested-Name: ${peer.name}\\n-----BEGIN CERTIFICATE-----`));
      assert.equal(text.slice(text.indexOf('-----BEGIN')), `${readFileSync(certPaths(certRoot(peer)).selfCa, 'utf8').trim()}\n`);
      const verify = await runTool('openssl', [
        'verify', '-no-CAfile', '-no-CAstore', '-CApath', trustDir(self), certPaths(certRoot(peer)).serverChain,
      ]);
      assert.equal(verify.code, 0, verify.stderr);
    }

    // bmc-b's CA (its software-token key is a file here) mints a client certificate naming bmc-c:
    // the chain is fine, the name is not the one bmc-b's CA was attested for. bmc-a refuses it.
    const bCa = certPaths(certRoot(b)).selfCa;
    const leaf = await makeTestLeaf({
      ca: { certFile: bCa, keyFile: softwareTokenPaths(join(b.dir, 'state')).keyFile, pem: readFileSync(bCa, 'utf8') },
      dir: b.dir,
      stem: 'minted-bmc-c',
      name: 'bmc-c',
    });
    const sClient = await runTool(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${a.port}`, '-cert', leaf, '-key', leaf.replace(/\.pem$/, '.key'), '-CAfile', certPaths(certRoot(a)).selfCa, '-brief'],
      { input: 'Hello\n', timeoutMs: 10_000 },
    );
    assert.doesNotMatch(sClient.stdout, /alive/, 'no alive for bmc-c');
    assert.ok(
      (await a.daemon?.waitForOutput(/inbound connection refused: .*names bmc-c, but its CA was attested for bmc-b only/)) === true,
      `bmc-a says why\n${a.daemon?.output()}`,
    );
    assert.equal(await getProperty(a.bus, 'peerConnected'), CONNECTED, 'the real link is untouched');
  });
});
