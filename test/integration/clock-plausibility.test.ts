/**
 * A BMC whose wall clock is years off (an unset RTC, no NTP yet), shifted with libfaketime for the
 * daemon process alone: it says so in its log and on D-Bus (clockPlausible), issues nothing from
 * that clock, and proceeds by itself once the clock is right, without a restart.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../../src/clock/skew-allowance.ts';
import { certPaths } from '../../src/pki/certificate/cert-paths.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, getProperty, IFACE, OBJECT, SERVICE } from '../harness/daemon.ts';
import { fakeClock } from '../harness/faketime.ts';

const NAME = 'bmc-clock';
/** Hang protection on a loaded machine (the clock is checked every 2 s), not a timing claim. */
const STEP_MS = 20_000;

describe('an implausible wall clock', () => {
  const fixture = useBusFixture();
  const bus = fixture.bus;
  const provisionSelf = () => busctl(bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
  const plausible = async (value: 'true' | 'false') => eventually(async () => (await getProperty(bus(), 'clockPlausible')) === value, STEP_MS, 200);

  it('ten years back: noticed in the log and on D-Bus, ProvisionPeer("self") refused and nothing written; once the clock is right, provisioning proceeds; a provisioned BMC booting with it waits and restores by itself', async () => {
    const dir = fixture.tempDir('pd-clock-');
    const clock = fakeClock(join(dir, 'faketime'), '-3650d');
    const first = await fixture.startDaemon({ dir: join(dir, 'bmc'), config: { name: NAME }, env: clock.env });
    const selfCa = certPaths(String(first.config['cert_root'])).selfCa;

    assert.equal(await getProperty(bus(), 'clockPlausible'), 'false', 'false as soon as the name is owned');
    assert.ok(await first.waitForOutput(/the clock says 20\d\d-.*, before this build \(.*\): no certificate is issued until the clock is plausible/), first.output());
    const refused = await provisionSelf();
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /CLOCK_IMPLAUSIBLE: the wall clock is implausible \(the clock says 20\d\d-/);
    assert.equal(existsSync(selfCa), false, 'no CA certificate was made from that clock');
    assert.equal(await getProperty(bus(), 'provisioned'), 'false');

    // NTP sets the clock: the daemon notices by itself, and ProvisionPeer("self") works.
    clock.set('+0');
    assert.ok(await plausible('true'), `clockPlausible becomes true:\n${first.output()}`);
    assert.ok(await first.waitForOutput(/the clock is plausible again/), first.output());
    const ok = await provisionSelf();
    assert.equal(ok.code, 0, ok.stderr);
    const caStart = Date.parse(new X509Certificate(readFileSync(selfCa)).validFrom);
    assert.ok(Math.abs(caStart - (Date.now() - CLOCK_SKEW_ALLOWANCE_MS)) < 10 * 60_000, `the CA starts from the right clock, less 48 h: ${new Date(caStart).toISOString()}`);

    // The provisioned BMC reboots with its RTC unset: it waits, visibly, and restores once the clock is right.
    await first.stop();
    clock.set('-3650d');
    const chainBefore = readFileSync(certPaths(String(first.config['cert_root'])).serverChain, 'utf8');
    const second = await fixture.startDaemon({ dir: first.dir, config: first.config, env: clock.env });
    assert.equal(await getProperty(bus(), 'provisioned'), 'true');
    assert.equal(await getProperty(bus(), 'clockPlausible'), 'false');
    assert.ok(await second.waitForOutput(/"self":"WaitingForClock"/), `the state is visible:\n${second.output()}`);
    const waiting = await provisionSelf();
    assert.match(waiting.stderr, /CLOCK_IMPLAUSIBLE/, 'a re-provisioning is refused too');
    assert.equal(readFileSync(certPaths(String(second.config['cert_root'])).serverChain, 'utf8'), chainBefore, 'no leaf issued from that clock');
    clock.set('+0');
    assert.ok(await plausible('true'), second.output());
    assert.ok(await second.waitForOutput(/issued leaf certificates for bmc-clock.*reason=boot/), `restored once the clock is right:\n${second.output()}`);
    assert.ok(await second.waitForOutput(/"self":\{"Provisioned":"Ready"\}/), second.output());
  });

  it('provisioned while the clock ran a year ahead, then corrected: it waits for its CA to start rather than re-date it; removing self_ca.pem, ProvisionPeer("self") re-signs it for the same key from today', async () => {
    const dir = fixture.tempDir('pd-clock-ahead-');
    const clock = fakeClock(join(dir, 'faketime'), '+365d');
    const d = await fixture.startDaemon({ dir: join(dir, 'bmc'), config: { name: NAME }, env: clock.env });
    const selfCa = certPaths(String(d.config['cert_root'])).selfCa;
    const ok = await provisionSelf();
    assert.equal(ok.code, 0, ok.stderr);
    const ahead = new X509Certificate(readFileSync(selfCa));
    assert.ok(Date.parse(ahead.validFrom) > Date.now() + 300 * 86_400_000, `the CA starts a year ahead: ${ahead.validFrom}`);

    // NTP corrects the clock: it is now before the CA's start, which the daemon cannot tell from an RTC gone wrong.
    clock.set('+0');
    assert.ok(await plausible('false'), d.output());
    assert.ok(await d.waitForOutput(/before this BMC's CA certificate starts/), d.output());
    assert.equal(readFileSync(selfCa, 'utf8'), ahead.toString(), 'the CA is not re-dated by itself');

    // The operator's deliberate recovery (docs/operations.md, Clocks).
    rmSync(selfCa);
    assert.ok(await plausible('true'), d.output());
    const again = await provisionSelf();
    assert.equal(again.code, 0, again.stderr);
    assert.ok(existsSync(selfCa), `a new CA certificate is written:\n${d.output()}`);
    const today = new X509Certificate(readFileSync(selfCa));
    assert.ok(Math.abs(Date.parse(today.validFrom) - (Date.now() - CLOCK_SKEW_ALLOWANCE_MS)) < 10 * 60_000, `dated from today, less 48 h: ${today.validFrom}`);
    assert.ok(today.publicKey.equals(ahead.publicKey), 'for the same key on the token');
    const leaf = certPaths(String(d.config['cert_root'])).serverChain;
    assert.ok(
      await eventually(() => {
        const first = new X509Certificate(readFileSync(leaf));
        return first.checkIssued(today) && Date.parse(first.validFrom) < Date.now();
      }, STEP_MS, 200),
      `leaves from the new CA, valid now:\n${d.output()}`,
    );
  });
});
