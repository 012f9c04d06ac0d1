// The rack, measured in one run on two BMCs in network namespaces (root only):
//  1. ProvisionPeer(peer) → Connected on both sides, against the sum of its parts measured in the
//     same run: the ProvisionPeer D-Bus round trip (busctl, on an already connected peer) plus the
//     link's own establishment (per-peer InProgress → Connected, as the object reports it). Each
//     trial first drops the link (cable pulled for 2.5 s, shorter than LLDP's 4 s hold time) with
//     retries 60 s away, so that only ProvisionPeer brings it back (goal ≤ 2×).
//  2. Discovery latency: from the neighbour appearing on lldpd's own stream (`lldpcli watch`) to
//     the per-peer object on provisioningd turning live (bmc-2's lldpd is restarted each trial, so
//     its object turns from departed, LLDP_GONE, back into a dialled peer), against the lldp bridge's own object appearing
//     (lldpd → bridge → D-Bus), the floor of the same path.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import dbus from 'dbus-next';
import { addMatch } from '../src/dbus/bus-call.ts';
import { busctl, IFACE, OBJECT, SERVICE } from '../test/harness/daemon.ts';
import { canCreateNamespaces, createRack, type Rack } from '../test/harness/netns.ts';
import { placeTrust, provisionPeer, startRackBmcs, type RackBmc } from '../test/harness/netns-bmc.ts';
import { startLldpd } from '../test/harness/netns-lldp.ts';
import type { PrivateBus } from '../test/harness/private-bus.ts';
import { stopProcess } from '../test/harness/private-bus.ts';
import { formatFigure, quantile } from './harness.ts';

const TRIALS = 5;
const STEP_MS = 30_000;

async function main(): Promise<void> {
  if (!canCreateNamespaces()) throw new Error('bench/rack.bench.ts needs root (network namespaces)');
  const dir = mkdtempSync(join(tmpdir(), 'bench-rack-'));
  const buses: PrivateBus[] = [];
  let rack: Rack | undefined;
  let bmcs: RackBmc[] = [];
  try {
    rack = await createRack({ size: 2 });
    // Retries a minute away: a dropped link comes back only through ProvisionPeer (or LLDP).
    bmcs = await startRackBmcs(rack, dir, buses, { retry_base: 60, retry_timer: 60 });
    const [a, b] = bmcs;
    if (!a || !b) throw new Error('two BMCs');
    for (const bmc of bmcs) await provisionPeer(bmc, 'self');
    placeTrust(a, b);
    placeTrust(b, a);
    const connected = (x: RackBmc, y: RackBmc, since: number) =>
      x.recorder.waitFor((c) => c.peer === y.node.name && c.status === 'Connected' && !c.failureOnly, { since, timeoutMs: STEP_MS });
    for (const [x, y] of [[a, b], [b, a]] as const) {
      await provisionPeer(x, y.node.name);
      if (!(await connected(x, y, 0))) throw new Error(`${x.node.name} never connected`);
    }

    // 1. ProvisionPeer → Connected on both sides.
    const whole: number[] = [];
    const parts: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      let since = Date.now();
      await rack.linkDown(b.node);
      for (const [x, y] of [[a, b], [b, a]] as const) {
        const down = await x.recorder.waitFor((c) => c.peer === y.node.name && c.status === 'NotConnected' && !c.failureOnly, { since, timeoutMs: STEP_MS });
        if (!down) throw new Error(`${x.node.name} did not see the link drop`);
      }
      await sleep(Math.max(0, 2500 - (Date.now() - since)));
      await rack.linkUp(b.node);
      await sleep(300);
      since = Date.now();
      await Promise.all([provisionPeer(a, b.node.name), provisionPeer(b, a.node.name)]);
      const [ca, cb] = await Promise.all([connected(a, b, since), connected(b, a, since)]);
      if (!ca || !cb) throw new Error('not Connected after ProvisionPeer');
      whole.push(Math.max(ca.at, cb.at) - since);
      // Parts, same trial: the link's own establishment on each side (InProgress → Connected) …
      const link = (x: RackBmc, y: RackBmc, end: number) => {
        const start = x.recorder.changes.filter((c) => c.peer === y.node.name && c.status === 'InProgress' && !c.failureOnly && c.at >= since && c.at <= end).at(-1);
        return start ? end - start.at : 0;
      };
      const linkMs = Math.max(link(a, b, ca.at), link(b, a, cb.at));
      // … plus the D-Bus round trip of ProvisionPeer itself, on a connected peer (a no-op for the machine).
      const t1 = performance.now();
      const r = await busctl(a.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', b.node.name);
      if (r.code !== 0) throw new Error(r.stderr);
      parts.push(linkMs + (performance.now() - t1));
    }
    const ratio = quantile(whole, 0.5) / quantile(parts, 0.5);
    console.log(formatFigure({ name: `ProvisionPeer(peer) → Connected on both sides, median (n=${TRIALS})`, value: quantile(whole, 0.5), unit: 'ms', ratio: { value: ratio, against: 'D-Bus call + link establishment' } }));
    console.log(formatFigure({ name: '  sum of its parts, median', value: quantile(parts, 0.5), unit: 'ms' }));
    console.log(`  goal ≤ 2x: ${ratio <= 2 ? 'met' : 'NOT met'}`);

    // 2. Discovery latency: restart bmc-2's lldpd and follow the neighbour through the pipeline.
    const discovery: number[] = [];
    const floor: number[] = [];
    const client = dbus.sessionBus({ busAddress: a.bus.address });
    const bridgeAdded: number[] = [];
    client.on('message', (m: dbus.Message) => {
      if (m.member === 'InterfacesAdded' && String(m.body[0]).includes('/network/lldp/')) bridgeAdded.push(Date.now());
    });
    await addMatch(client, "type='signal',sender='xyz.openbmc_project.LLDP',interface='org.freedesktop.DBus.ObjectManager'", 5000);
    for (let i = 0; i < TRIALS; i++) {
      await stopProcess(b.lldpd.process);
      const gone = await a.recorder.waitFor((c) => c.peer === b.node.name && c.lastFailure?.startsWith('LLDP_GONE') === true, { since: 0, timeoutMs: STEP_MS });
      if (!gone && i === 0) console.log('  (no LLDP_GONE seen; continuing)');
      await sleep(500);
      const watch = spawn('lldpcli', ['-u', a.lldpd.socket, '-f', 'json0', 'watch'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const seen = new Promise<number>((resolve) => watch.stdout.once('data', () => resolve(Date.now())));
      await sleep(300);
      const since = Date.now();
      b.lldpd = startLldpd(rack, b.node, dir);
      const tLldpd = await Promise.race([seen, sleep(STEP_MS).then(() => Number.NaN)]);
      // The object appears (a new neighbour) or turns from departed (LLDP_GONE) back into a live peer.
      const obj = await a.recorder.waitFor(
        (c) => c.peer === b.node.name && (c.status === 'added' || (c.lastFailure !== undefined && !c.lastFailure.startsWith('LLDP_GONE'))),
        { since, timeoutMs: STEP_MS },
      );
      await stopProcess(watch);
      const tBridge = bridgeAdded.find((t) => t >= since);
      if (!obj || Number.isNaN(tLldpd) || tBridge === undefined) throw new Error('discovery did not complete');
      discovery.push(obj.at - tLldpd);
      floor.push(tBridge - tLldpd);
    }
    client.disconnect();
    const d = quantile(discovery, 0.5);
    const f = quantile(floor, 0.5);
    console.log(formatFigure({ name: `discovery: lldpd sees the neighbour → per-peer object, median (n=${TRIALS})`, value: d, unit: 'ms', ratio: { value: d / Math.max(f, 1), against: 'lldpd → bridge object on D-Bus' } }));
    console.log(formatFigure({ name: '  lldpd → bridge object, median', value: f, unit: 'ms' }));
  } finally {
    for (const bmc of bmcs) bmc.recorder.close();
    await rack?.teardown();
    for (const bus of buses) await bus.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`rack bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
