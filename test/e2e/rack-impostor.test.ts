/**
 * A hostile LAN: one refused handshake must not switch a link off. Three whole BMCs as network
 * namespaces on a bridge (bus, lldpd + lldp bridge, software token, attestationd, provisioningd
 * each), trust only through attestation: bmc-1 attests bmc-2 and bmc-3, and they attest it back.
 * While bmc-2's provisioningd is away, an impostor (`openssl s_server`, a foreign TLS stack) answers
 * at bmc-2's address and port: first with a leaf naming bmc-2 from a CA of its own, then with a leaf
 * naming bmc-2 from bmc-3's CA, which bmc-1 trusts, but for bmc-3 only. bmc-1 refuses each on every
 * dial and keeps dialling; when the real bmc-2 is back, the links in both directions come up by
 * themselves (bmc-1's on its backoff schedule, or at once when the real bmc-2 dials in), without
 * anybody touching trust or credentials.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { eventually } from '../harness/daemon.ts';
import { useAttestedRack } from '../harness/netns-attestationd.ts';
import {
  trustedCaFiles,
  isLinkUpState,
  ownLinkState,
  peerProperty,
  peerStatesLogged,
  provisionPeer,
  RACK_ATTEST_STEP_MS as ATTEST_STEP_MS,
  RACK_LINK_CONFIG,
  RACK_LINK_STEP_MS as LINK_STEP_MS,
  startRackDaemon,
  type RackBmc,
} from '../harness/netns-bmc.ts';
import type { Rack } from '../harness/netns.ts';
import { makeTestCa, type TestCa } from '../harness/openssl-test-ca.ts';
import { stopProcess } from '../harness/stop-process.ts';
import { issueTestLeaf, type TestLeaf } from '../harness/test-pki.ts';

/** 169.254.80.0/24: rack-lldp.test.ts uses 77, rack.test.ts 78 and rack-three.test.ts 79. */
const SUBNET = 80;
const REFUSED = '{"NotConnected":"Refused"}';
const DIALLING = '{"Link":"InProgress"}';
/** The retry from Refused: the backoff timer, not a change of trust, credentials or LLDP. */
const RETRY_FROM_REFUSED = 'xstate.after.retryBackoff.peer.NotConnected.Refused';

/** An impostor TLS server in a BMC's namespace, at that BMC's address and peer-link port. */
interface Impostor {
  /** What s_server printed: a completed handshake shows its session and `CIPHER is`, received data is echoed. */
  stdout(): string;
  /** Its errors: one `ERROR` block per handshake that did not complete. */
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `openssl s_server` presenting `leaf` (chain: `ca`) and asking for a client certificate, as the responder does. */
async function startImpostor(rack: Rack, at: RackBmc, leaf: TestLeaf, ca: TestCa): Promise<Impostor> {
  const args = ['s_server', '-accept', `${at.node.address}:${String(at.config['port'])}`, '-cert', leaf.certFile, '-key', leaf.keyFile, '-cert_chain', ca.certFile, '-verify', '1'];
  // stdin stays open: s_server ends at end of input.
  const child: ChildProcess = rack.spawn(at.node, 'openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const listening = await eventually(() => out.includes('ACCEPT') || child.exitCode !== null, 15_000);
  assert.ok(listening && child.exitCode === null, `the impostor listens at ${at.node.address}: ${out}${err}`);
  return { stdout: () => out, stderr: () => err, stop: () => stopProcess(child) };
}

/** bmc-3's own CA as files openssl can sign with: the impostor holds another BMC's CA key. */
function caOf(bmc: RackBmc): TestCa {
  const certFile = certPaths(String(bmc.config['cert_root'])).selfCa;
  return { certFile, keyFile: join(String(bmc.config['state_dir']), 'software-token', 'ca-key.pem'), pem: readFileSync(certFile, 'utf8') };
}

describe('an impostor at a peer\'s address cannot switch the link to that peer off', () => {
  const { start, logs, reaches } = useAttestedRack({ size: 3, subnet: SUBNET, tmpPrefix: 'rack-impostor-' });

  it('bmc-1 attests bmc-2 and bmc-3 → bmc-2 away, impostors at its address (own CA; bmc-3\'s CA) refused on every dial, never Connected → the real bmc-2 back: both links up by themselves, no operator action', async (t) => {
    const { rack, bmcs } = await start();
    const [b1, b2, b3] = bmcs;
    assert.ok(b1 && b2 && b3);
    const name = (x: RackBmc) => x.node.name;

    // 1. Trust through attestation: bmc-1 attests bmc-2 and bmc-3 (each attests bmc-1 back).
    for (const bmc of bmcs) await provisionPeer(bmc, 'self');
    const since = Date.now();
    await provisionPeer(b1, name(b2));
    await provisionPeer(b1, name(b3));
    for (const [x, y] of [[b1, b2], [b2, b1], [b1, b3], [b3, b1]] as const) {
      await reaches(x, y, 'Connected', since, `${name(x)}'s object for ${name(y)} after ProvisionPeer`, ATTEST_STEP_MS);
    }
    for (const [x, y] of [[b1, b2], [b2, b1]] as const) {
      const up = await eventually(() => isLinkUpState(ownLinkState(x, y)), LINK_STEP_MS, 100);
      assert.ok(up, `${name(x)}'s own link to ${name(y)} is up (last state ${ownLinkState(x, y)})\n${logs()}`);
    }
    const trusted = trustedCaFiles(b1).sort();
    assert.equal(trusted.length, 2, `bmc-1 trusts bmc-2's and bmc-3's CAs: ${trusted.join(', ')}`);

    // 2. bmc-2's provisioningd goes away.
    const away = Date.now();
    b2.daemon.kill('SIGTERM');
    await b2.daemon.exited();
    await reaches(b1, b2, 'NotConnected', away, 'bmc-1 once bmc-2 is away');

    // 3. Impostors answer at bmc-2's address, one after the other.
    const dir = join(b2.dir, 'impostor');
    mkdirSync(dir, { recursive: true });
    const ownCa = await makeTestCa({ dir, stem: 'own-ca', subject: '/CN=bmc-2 Provisioning CA' });
    const leafFor = (ca: TestCa, stem: string) => issueTestLeaf({ dir, ca, stem, commonName: name(b2), dnsName: name(b2), eku: ['serverAuth', 'clientAuth'] });
    const impostors = [
      { what: 'a leaf naming bmc-2 from a self-signed CA of its own', ca: ownCa, leaf: await leafFor(ownCa, 'own'), reason: /SELF_SIGNED_CERT_IN_CHAIN/ },
      {
        what: 'a leaf naming bmc-2 from bmc-3\'s attested CA',
        ca: caOf(b3),
        leaf: await leafFor(caOf(b3), 'from-bmc-3'),
        reason: /ERR_PEER_NAME_NOT_BOUND: the certificate names bmc-2, but its CA was attested for bmc-3 only/,
      },
    ];
    const seen: Impostor[] = [];
    for (const imp of impostors) {
      const impostor = await startImpostor(rack, b2, imp.leaf, imp.ca);
      seen.push(impostor);
      const listening = Date.now();
      try {
        // Refused, dialled again by the backoff timer from Refused (nothing else changes), refused again.
        const retried = await eventually(() => {
          const states = peerStatesLogged(b1, b2, listening);
          const refused = states.findIndex((s) => s.state === REFUSED);
          const retry = states.findIndex((s, i) => i > refused && s.event === RETRY_FROM_REFUSED);
          return refused >= 0 && retry > refused && states.slice(retry).some((s) => s.state === REFUSED);
        }, LINK_STEP_MS, 100);
        assert.ok(retried, `${imp.what}: bmc-1 refuses it, dials again after the backoff, and refuses it again: ${JSON.stringify(peerStatesLogged(b1, b2, listening))}\n${logs()}`);
        const warning = new RegExp(`link attempt failed \\(${b2.node.address.replaceAll('.', '\\.')}:8090\\): server certificate refused: .*${imp.reason.source}.* peer=bmc-2 event=LINK_REJECTED`);
        assert.match(b1.daemon.output(), warning, `${imp.what}: bmc-1 logs why it refused it`);
        assert.match(await peerProperty(b1, b2, 'lastFailure'), new RegExp(`^s "LINK_REJECTED: server certificate refused: .*${imp.reason.source}`), `${imp.what}: lastFailure keeps the refusal`);
      } finally {
        await impostor.stop();
      }
    }

    // 4. The real bmc-2 is back: with nobody acting, bmc-1 dials it on its backoff schedule, or at
    //    once when bmc-2's own link to it comes up.
    const back = Date.now();
    b2.daemon = await startRackDaemon(rack, b2);
    for (const [x, y] of [[b1, b2], [b2, b1]] as const) {
      const up = await eventually(() => isLinkUpState(ownLinkState(x, y)), LINK_STEP_MS, 100);
      assert.ok(up, `${name(x)}'s own link to ${name(y)} is up again (last state ${ownLinkState(x, y)})\n${logs()}`);
    }
    await reaches(b1, b2, 'Connected', back, 'bmc-1 once the real bmc-2 is back');
    assert.equal(await peerProperty(b1, b2, 'lastFailure'), 's ""', 'our own link is up: no failure left');

    // Never Connected to the impostors: bmc-1's object for bmc-2 was not Connected while bmc-2 was away,
    const whileAway = b1.recorder.changes.filter((c) => c.peer === name(b2) && c.at > away && c.at < back && !c.failureOnly).map((c) => c.status);
    assert.ok(whileAway.length > 0 && !whileAway.includes('Connected'), `bmc-1's object for bmc-2 while it was away: ${JSON.stringify(whileAway)}`);
    // and no impostor completed a handshake or received a byte (a Hello), though both were dialled again and again.
    for (const [i, impostor] of seen.entries()) {
      const aborted = impostor.stderr().match(/^ERROR$/gm)?.length ?? 0;
      assert.ok(aborted >= 2, `impostor ${i + 1} saw bmc-1's dials abort the handshake (${aborted}): ${impostor.stderr()}`);
      assert.doesNotMatch(impostor.stdout(), /CIPHER is|BEGIN SSL SESSION PARAMETERS|Hello/, `impostor ${i + 1} never completed a handshake: ${impostor.stdout()}`);
    }
    // No operator action: the same trust store, and the dial that came up was started by the backoff
    // timer, or by the real bmc-2 dialling bmc-1 (PEER_DIALLED_IN: its inbound link came up).
    assert.deepEqual(trustedCaFiles(b1).sort(), trusted, 'bmc-1\'s trust store is unchanged');
    const states = peerStatesLogged(b1, b2, back);
    const upAt = states.findIndex((s) => isLinkUpState(s.state));
    const dial = states[upAt - 1];
    assert.match(dial?.event ?? '', /^(xstate\.after\.retryBackoff\.peer\.NotConnected\.(Refused|Backoff)|PEER_DIALLED_IN)$/, `the dial that came up: ${JSON.stringify(states)}`);
    // Within one backoff delay (at most retry_timer, the model test proves the delays): once the real
    // bmc-2 listens, bmc-1's next dial is the one that comes up.
    const listening = Date.parse(b2.daemon.output().match(/^(\S+) info +responder listening/m)?.[1] ?? '');
    assert.ok(Number.isFinite(listening), `bmc-2 logged when it listened\n${b2.daemon.output()}`);
    const dialsAfterListening = states.slice(0, upAt).filter((s) => s.state === DIALLING && s.at >= listening).length;
    assert.ok(dialsAfterListening <= 1, `bmc-1 dialled bmc-2 ${dialsAfterListening} times after it listened before the link was up: ${JSON.stringify(states)}`);
    const connected = states[upAt]?.at ?? Number.NaN;
    t.diagnostic(
      `bmc-1's link to bmc-2 up ${connected - listening} ms after the real bmc-2 listened (retry_timer ${RACK_LINK_CONFIG.retry_timer * 1000} ms); dials of bmc-1 since bmc-2 was started: ${states.filter((s) => s.state === DIALLING).length}`,
    );
  });
});
