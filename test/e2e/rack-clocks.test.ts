/**
 * Clocks that disagree, in the attested rack: bmc-2's wall clock (its provisioningd and its
 * attestationd, nothing else) is shifted with libfaketime. For each offset, 10 minutes, 2 hours
 * and 12 hours either way, bmc-2 starts afresh (a new CA and leaves made by its shifted clock,
 * an empty trust store), one ProvisionPeer(bmc-2) on bmc-1 has the two attest each other, and both
 * reach Connected. Then bmc-2's clock jumps while it runs, a day forward and a day back (twice):
 * it notices, issues new leaves at once from the new time, and a pulled and replugged cable shows
 * fresh handshakes succeed, with no restart. One rack for all cases: only bmc-2's daemon restarts.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../../src/clock/skew-allowance.ts';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { eventually } from '../harness/daemon.ts';
import { fakeClock } from '../harness/faketime.ts';
import { restartRackAttestationd, useAttestedRack } from '../harness/netns-attestationd.ts';
import {
  peerProperty,
  provisionPeer,
  RACK_ATTEST_STEP_MS as ATTEST_STEP_MS,
  RACK_LINK_STEP_MS as LINK_STEP_MS,
  type RackBmc,
  startRackDaemon,
} from '../harness/netns-bmc.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** libfaketime offsets and what they are in milliseconds. */
const OFFSETS: ReadonlyArray<readonly [string, number]> = [
  ['+10m', 10 * MINUTE],
  ['-10m', -10 * MINUTE],
  ['+2h', 2 * HOUR],
  ['-2h', -2 * HOUR],
  ['+12h', 12 * HOUR],
  ['-12h', -12 * HOUR],
];

/** notBefore of a PEM's first certificate, epoch ms. */
const notBeforeOf = (file: string) => Date.parse(new X509Certificate(readFileSync(file)).validFrom);

/** Asserts a certificate was made by a clock `offsetMs` off the real one: it starts 48 h before that clock's now (within a few minutes). */
function assertMadeAt(file: string, offsetMs: number, what: string): void {
  const expected = Date.now() + offsetMs - CLOCK_SKEW_ALLOWANCE_MS;
  const got = notBeforeOf(file);
  assert.ok(Math.abs(got - expected) < 5 * MINUTE, `${what}: notBefore ${new Date(got).toISOString()}, expected about ${new Date(expected).toISOString()}`);
}

describe('two BMCs whose clocks disagree link up through attestation, and a clock that jumps heals', () => {
  const { start, logs, reaches } = useAttestedRack({ size: 2, subnet: 80, tmpPrefix: 'rack-clock-' });

  it('bmc-2 off by ±10 min, ±2 h, ±12 h: attested both ways and Connected; then its clock jumps a day forward and back: new leaves at once, links come back', async () => {
    const { rack, bmcs, attestationds } = await start();
    const [a, b] = bmcs;
    const bAtt = attestationds[1];
    assert.ok(a && b && bAtt);
    const clock = fakeClock(join(b.dir, 'faketime'));
    const paths = (bmc: RackBmc) => certPaths(String(bmc.config['cert_root']));

    // The whole of bmc-2 runs on the fake clock: its attestationd checks bmc-1's identity chain with it.
    await bAtt.daemon.stop();
    await restartRackAttestationd(rack, b, bAtt, { env: clock.env });
    await provisionPeer(a, 'self');

    /** bmc-2 starts afresh at `offset` (new CA, new leaves, nobody trusted) and is attested by bmc-1, which it attests back. */
    const freshLink = async (offset: string, offsetMs: number) => {
      await b.daemon.stop();
      rmSync(String(b.config['cert_root']), { recursive: true, force: true });
      rmSync(String(b.config['state_dir']), { recursive: true, force: true });
      clock.set(offset);
      const since = Date.now();
      b.daemon = await startRackDaemon(rack, b, { env: clock.env });
      await provisionPeer(b, 'self');
      assertMadeAt(paths(b).selfCa, offsetMs, `${offset}: bmc-2's CA`);
      await provisionPeer(a, b.node.name);
      await reaches(a, b, 'Connected', since, `${offset}: bmc-1 to bmc-2`, ATTEST_STEP_MS);
      await reaches(b, a, 'Connected', since, `${offset}: bmc-2 to bmc-1`, ATTEST_STEP_MS);
      for (const [self, peer] of [[a, b], [b, a]] as const) {
        assert.equal(await peerProperty(self, peer, 'attested'), 'b true', `${offset}: ${self.node.name} attested ${peer.node.name}`);
      }
    };
    for (const [offset, ms] of OFFSETS) await freshLink(offset, ms);

    // Jumps while running, from a linked bmc-2 on the right time.
    await freshLink('+0', 0);
    const jumps: ReadonlyArray<readonly [string, number, string]> = [
      ['+1d', 24 * HOUR, '\\+24\\.0\\d h'],
      ['+0', 0, '−24\\.0\\d h'],
      ['-1d', -24 * HOUR, '−24\\.0\\d h'],
    ];
    for (const [offset, ms, by] of jumps) {
      const what = `jump to ${offset}`;
      const leafBefore = readFileSync(paths(b).serverChain, 'utf8');
      const seen = (b.daemon.output().match(/the wall clock jumped by/g) ?? []).length;
      clock.set(offset);
      assert.ok(await eventually(() => (b.daemon.output().match(/the wall clock jumped by/g) ?? []).length > seen, LINK_STEP_MS), `${what}: noticed\n${logs()}`);
      assert.match(b.daemon.output(), new RegExp(`the wall clock jumped by ${by} against the monotonic clock: issuing new leaves`));
      assert.ok(await eventually(() => readFileSync(paths(b).serverChain, 'utf8') !== leafBefore, LINK_STEP_MS), `${what}: new leaves at once\n${logs()}`);
      assertMadeAt(paths(b).serverChain, ms, `${what}: bmc-2's new leaf`);
      // Fresh handshakes both ways, on the new leaves and the jumped clock, without a restart.
      let since = Date.now();
      await rack.linkDown(b.node);
      await reaches(a, b, 'NotConnected', since, `${what}: cable pulled`);
      await reaches(b, a, 'NotConnected', since, `${what}: cable pulled (bmc-2 side)`);
      since = Date.now();
      await rack.linkUp(b.node);
      await reaches(a, b, 'Connected', since, `${what}: cable back`);
      await reaches(b, a, 'Connected', since, `${what}: cable back (bmc-2 side)`);
    }
  });
});
