/**
 * The lldp bridge's full read of lldpd's table (`lldpcli show neighbors`) against its watch, with a
 * real lldpd on each side of a veth pair and the real bridge. The race that matters, a table that
 * lldpd answered before a neighbour appeared but that reaches the bridge after the watch published
 * the neighbour, is made to happen every time: the bridge runs lldpcli through a shim that runs the
 * real `lldpcli show` at once but hands its output over only when the test says so (the watch runs
 * lldpcli unchanged). Applied, that table would remove the neighbour (and provisioningd would stop
 * dialling it until the next resync); the bridge discards it and reads again.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { busctl, eventually } from '../harness/daemon.ts';
import { canCreateNamespaces, createRack, type Rack } from '../harness/netns.ts';
import { LLDP_BRIDGE_POLICY, startLldpBridge, startLldpd } from '../harness/netns-lldp.ts';
import { startPrivateBus, type PrivateBus } from '../harness/private-bus.ts';

const LLDP = 'xyz.openbmc_project.LLDP';
const TLVS = 'xyz.openbmc_project.Network.LLDP.TLVs';
const RECEIVE = '/xyz/openbmc_project/network/lldp/eth1/receive';
/** A net for a loaded machine (lldpd announces every second), not a measurement. */
const DEADLINE_MS = 30_000;

/** lldpcli, with each `show` held back until `<dir>/release` exists (at most 60 s: the shim cannot hang). */
const shim = (dir: string) => `#!/bin/sh
case " $* " in
  *" show "*)
    out=$(lldpcli "$@") || exit $?
    touch "${dir}/shows/$$"
    i=0
    while [ ! -e "${dir}/release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    printf '%s\\n' "$out"
    ;;
  *) exec lldpcli "$@" ;;
esac
`;

const systemName = async (bus: PrivateBus) => {
  const r = await busctl(bus, 'get-property', LLDP, RECEIVE, TLVS, 'SystemName');
  return r.code === 0 ? (JSON.parse(r.stdout.trim().replace(/^s /, '')) as string) : undefined;
};

describe('the lldp bridge: a full read older than a watch event (real lldpd, real bridge)', { skip: canCreateNamespaces() ? false : 'needs root (network namespaces)' }, () => {
  let rack: Rack | undefined;
  let bus: PrivateBus | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lldp-resync-'));
  after(async () => {
    await rack?.teardown();
    await bus?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, { timeout: 120_000 });

  it('a table read before a neighbour appeared, delivered after the watch published it, does not remove it', async () => {
    rack = await createRack({ size: 2 });
    const [n1, n2] = rack.nodes;
    assert.ok(n1 && n2);
    bus = await startPrivateBus({ policies: [LLDP_BRIDGE_POLICY] });
    const shows = join(dir, 'shows');
    const lldpcli = join(dir, 'lldpcli');
    writeFileSync(lldpcli, shim(dir), { mode: 0o755 });
    mkdirSync(shows);
    const showsStarted = () => readdirSync(shows).length;

    // bmc-1 alone: the bridge's first read (once its watch runs) sees no neighbour, and is held.
    const lldpd1 = startLldpd(rack, n1, dir);
    const bridge = await startLldpBridge(rack, bus, lldpd1.socket, { args: ['--lldpcli', lldpcli, '--resync', '86400', '--log-level', 'debug'] });
    assert.ok(await eventually(() => showsStarted() === 1, DEADLINE_MS, 50), `the first read ran\n${bridge.output()}`);

    // bmc-2 appears: the watch publishes it while that read is still held.
    startLldpd(rack, n2, dir);
    const busy = bus;
    assert.ok(await eventually(async () => (await systemName(busy)) === n2.name, DEADLINE_MS, 100), `the watch publishes bmc-2\n${bridge.output()}`);

    // The old table (no neighbour) arrives now.
    writeFileSync(join(dir, 'release'), '');
    const settled = /read before the latest watch event: not applied|gone from/;
    assert.ok(await eventually(() => settled.test(bridge.output()), DEADLINE_MS, 100), `the bridge dealt with the old table\n${bridge.output()}`);
    assert.doesNotMatch(bridge.output(), /gone from/, 'the old table removed bmc-2');
    assert.equal(await systemName(busy), n2.name, 'bmc-2 is still published');
    // It reads again instead (that table has bmc-2).
    assert.ok(await eventually(() => showsStarted() >= 2, DEADLINE_MS, 50), `read again\n${bridge.output()}`);
  });
});
