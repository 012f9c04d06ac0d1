// The rack, measured in one run on two BMCs in network namespaces (root only), each with its own
// bus, lldpd + lldp bridge, attestationd and provisioningd, set up as test/e2e/rack.test.ts sets
// them up. No trust is ever placed by hand.
//  1. ProvisionPeer(bmc-2) on bmc-1 alone → Connected on both sides' per-peer objects, the product
//     path: bmc-1 attests bmc-2 over SPDM, bmc-2 attests bmc-1 back on its own (bmc-1 attested it),
//     each trusts the other's CA for its name, and the mutual-TLS link comes up.
//     Every trial starts untrusted, as at first contact: the attested CA files are deleted from both
//     trust directories (the trust stores watch them and drop the CAs, and each peer's
//     `attested` turns false), then the cable stays out until LLDP on both sides has forgotten the
//     neighbour, which stops both peer machines and their links; plugged back, fresh machines dial
//     the rediscovered neighbour and are refused (LINK_REJECTED).
//     Against the sum of its parts, each timed in the same trial:
//     - each attestation on its own: the calls of the daemon's attestPeer actor
//       (requestAttestation: AddDevice, attest(), the Attested(b) verdict, its properties) made from
//       here on the BMC's bus, while both peers are connected and attested (so neither daemon
//       attests back);
//     - the link's establishment with trust present: the cable out again until LLDP forgets, plugged
//       back, the fresh machines dial at once; per-peer InProgress → Connected, the slower side;
//     - the ProvisionPeer D-Bus round trip (busctl) on the connected peer, a no-op for its machine.
//     Goal: whole ≤ 2× the sum. The daemons' log lines (`attesting …`, `attested by …`,
//     `attested …`) then show where the whole went.
//  2. Discovery latency: from the neighbour appearing on lldpd's own stream (`lldpcli watch`) to
//     the per-peer object on provisioningd turning live (bmc-2's lldpd is restarted each trial, so
//     its object turns from departed, LLDP_GONE, back into a dialled peer), against the lldp bridge's own object appearing
//     (lldpd → bridge → D-Bus), the floor of the same path.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import dbus from 'dbus-next';
import { requestAttestation } from '../src/attestation-client/attestation-client.ts';
import { DEFAULT_SPDM_PORT } from '../src/config/schema.ts';
import { addMatch } from '../src/dbus/bus-call.ts';
import { PEER_INTERFACE, peerObjectPath } from '../src/dbus/peer-objects.ts';
import { certPaths } from '../src/pki/certificate/index.ts';
import { busctl, eventually, IFACE, OBJECT, SERVICE } from '../test/harness/daemon.ts';
import { daemonTrustDir } from '../test/harness/daemon-trust-dir.ts';
import { canCreateNamespaces, createRack, type Rack } from '../test/harness/netns.ts';
import { startRackAttestationds } from '../test/harness/netns-attestationd.ts';
import { provisionPeer, startRackBmcs, type RackBmc } from '../test/harness/netns-bmc.ts';
import { startLldpd } from '../test/harness/netns-lldp.ts';
import type { PrivateBus } from '../test/harness/private-bus.ts';
import { stopProcess } from '../test/harness/stop-process.ts';
import { formatFigure, quantile, runBench } from './harness.ts';

const TRIALS = 5;
/** Deadline of each wait: an attestation each way plus LLDP ageing, on a loaded machine. */
const STEP_MS = 60_000;
const BUS_CALL_MS = 10_000;

const trustDir = (bmc: RackBmc) => daemonTrustDir(bmc.config);
/** The CA files in a BMC's trust store (attestation writes `<sha256>.pem` there). */
const trustedCaFiles = (bmc: RackBmc) => (existsSync(trustDir(bmc)) ? readdirSync(trustDir(bmc)).filter((n) => n.endsWith('.pem')) : []);

/** Timestamps (ms since the epoch) of a daemon's log lines whose message starts with `message`. */
function logTimes(output: string, message: string): number[] {
  const out: number[] = [];
  for (const line of output.split('\n')) {
    const m = /^(\S+) +\w+ +(.*)$/.exec(line);
    if (!m?.[1] || !m[2]?.startsWith(message)) continue;
    const t = Date.parse(m[1]);
    if (!Number.isNaN(t)) out.push(t);
  }
  return out;
}

/** The first log line with `message` in [from, to], or a failure naming it. */
function logTime(bmc: RackBmc, message: string, from: number, to: number): number {
  const t = logTimes(bmc.daemon.output(), message).find((x) => x >= from && x <= to);
  if (t === undefined) throw new Error(`${bmc.node.name}: no log line "${message}…" between ${new Date(from).toISOString()} and ${new Date(to).toISOString()}`);
  return t;
}

/** How many attestations a daemon started so far (`attesting <peer> at …` lines). */
const attestationsStarted = (bmc: RackBmc) => logTimes(bmc.daemon.output(), 'attesting ').length;

/** `attested` of `of`'s per-peer object for `peer`, as busctl prints it (`b true`). */
async function attestedProperty(of: RackBmc, peer: RackBmc): Promise<string> {
  const r = await busctl(of.bus, 'get-property', SERVICE, peerObjectPath(peer.node.name), PEER_INTERFACE, 'attested');
  if (r.code !== 0) throw new Error(`${of.node.name}: attested of ${peer.node.name}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

async function main(): Promise<void> {
  if (!canCreateNamespaces()) throw new Error('bench/rack.bench.ts needs root (network namespaces)');
  const dir = mkdtempSync(join(tmpdir(), 'bench-rack-'));
  const buses: PrivateBus[] = [];
  const clients: dbus.MessageBus[] = [];
  let rack: Rack | undefined;
  let bmcs: RackBmc[] = [];
  try {
    rack = await createRack({ size: 2 });
    const net = rack;
    bmcs = await startRackBmcs(rack, dir, buses, { attestation_timeout: 30 });
    await startRackAttestationds(rack, bmcs);
    const [a, b] = bmcs;
    if (!a || !b) throw new Error('two BMCs');
    const pairs = [
      [a, b],
      [b, a],
    ] as const;
    for (const bmc of bmcs) await provisionPeer(bmc, 'self');
    const connected = (x: RackBmc, y: RackBmc, since: number) =>
      x.recorder.waitFor((c) => c.peer === y.node.name && c.status === 'Connected' && !c.failureOnly, { since, timeoutMs: STEP_MS });

    /**
     * Pulls the cable until LLDP on both sides forgot the neighbour (its peer machine stops, the
     * object shows LLDP_GONE), then plugs it back. Returns when it was plugged back: from then on
     * the neighbours are rediscovered and fresh machines dial each other.
     */
    const cableOutUntilForgotten = async (): Promise<number> => {
      const out = Date.now();
      await net.linkDown(b.node);
      for (const [x, y] of pairs) {
        const gone = await x.recorder.waitFor((c) => c.peer === y.node.name && (c.lastFailure ?? '').startsWith('LLDP_GONE'), { since: out, timeoutMs: STEP_MS });
        if (!gone) throw new Error(`${x.node.name} did not forget ${y.node.name} with the cable out`);
      }
      const plugged = Date.now();
      await net.linkUp(b.node);
      return plugged;
    };

    /** Back to untrusted: no CA in either trust store, fresh peer machines, both dials refused. */
    const untrust = async () => {
      for (const bmc of bmcs) {
        const files = trustedCaFiles(bmc);
        if (files.length === 0) continue;
        const untrusted = logTimes(bmc.daemon.output(), 'trust store: no longer trusting CA').length;
        for (const f of files) rmSync(join(trustDir(bmc), f), { force: true });
        const dropped = await eventually(() => logTimes(bmc.daemon.output(), 'trust store: no longer trusting CA').length >= untrusted + files.length, STEP_MS);
        if (!dropped) throw new Error(`${bmc.node.name}: the trust store did not drop the removed CAs`);
      }
      const plugged = await cableOutUntilForgotten();
      for (const [x, y] of pairs) {
        const refused = await x.recorder.waitFor((c) => c.peer === y.node.name && (c.lastFailure ?? '').startsWith('LINK_REJECTED'), { since: plugged, timeoutMs: STEP_MS });
        if (!refused) throw new Error(`${x.node.name}: its dial of ${y.node.name} was not refused without trust`);
        if (trustedCaFiles(x).length) throw new Error(`${x.node.name}: a CA is still in the trust store`);
        if ((await attestedProperty(x, y)) !== 'b false') throw new Error(`${x.node.name}: ${y.node.name} still shows attested`);
      }
    };

    const client = (bmc: RackBmc) => {
      const c = dbus.sessionBus({ busAddress: bmc.bus.address });
      clients.push(c);
      return c;
    };
    const attestationBus = new Map<RackBmc, dbus.MessageBus>([
      [a, client(a)],
      [b, client(b)],
    ]);
    /** One attestation of `to` by `from`'s attestationd, as the daemon's attestPeer actor asks for it. */
    const attestOnItsOwn = async (from: RackBmc, to: RackBmc): Promise<number> => {
      const bus = attestationBus.get(from);
      if (!bus) throw new Error(`no bus connection to ${from.node.name}`);
      const t0 = performance.now();
      const verdict = await requestAttestation({ bus, id: to.node.name, ip: to.node.address, spdmPort: DEFAULT_SPDM_PORT, timeoutMs: STEP_MS, busCallTimeoutMs: BUS_CALL_MS });
      const ms = performance.now() - t0;
      const expected = new X509Certificate(readFileSync(certPaths(String(to.config['cert_root'])).selfCa)).fingerprint256;
      if (new X509Certificate(verdict.caPem).fingerprint256 !== expected) throw new Error(`${from.node.name} attested ${to.node.name} but measured another CA`);
      return ms;
    };

    // 1. ProvisionPeer → Connected on both sides, trust only through attestation.
    const whole: number[] = [];
    const parts: number[] = [];
    const partsBy = { attestAB: [] as number[], attestBA: [] as number[], link: [] as number[], call: [] as number[] };
    const went = { toAttesting: [] as number[], toAttestedBy: [] as number[], toAttestingBack: [] as number[], back: [] as number[], toConnected: [] as number[], first: [] as number[] };
    for (let i = 0; i < TRIALS; i++) {
      await untrust();

      // The whole: ProvisionPeer(bmc-2) on bmc-1 only.
      const since = Date.now();
      await provisionPeer(a, b.node.name);
      const [ca, cb] = await Promise.all([connected(a, b, since), connected(b, a, since)]);
      if (!ca || !cb) throw new Error('not Connected on both sides after ProvisionPeer');
      const end = Math.max(ca.at, cb.at);
      whole.push(end - since);
      for (const [x, y] of pairs) {
        if ((await attestedProperty(x, y)) !== 'b true') throw new Error(`${x.node.name} connected to ${y.node.name} without attesting it`);
      }

      // Parts: the attestation each way on its own. Both peers are connected and attested, so the
      // Attested(true) each responder reports makes neither daemon attest back.
      const startedBefore = bmcs.map(attestationsStarted);
      const ab = await attestOnItsOwn(a, b);
      const ba = await attestOnItsOwn(b, a);

      // … the link's own establishment with trust present: fresh machines dial on rediscovery.
      const plugged = await cableOutUntilForgotten();
      const [la, lb] = await Promise.all([connected(a, b, plugged), connected(b, a, plugged)]);
      if (!la || !lb) throw new Error('not Connected again with trust present');
      const dial = (x: RackBmc, y: RackBmc, up: number) => {
        const start = x.recorder.changes.filter((c) => c.peer === y.node.name && c.status === 'InProgress' && !c.failureOnly && c.at >= plugged && c.at <= up).at(-1);
        if (!start) throw new Error(`${x.node.name}: no InProgress of ${y.node.name} before it connected`);
        return up - start.at;
      };
      const linkMs = Math.max(dial(a, b, la.at), dial(b, a, lb.at));
      if (bmcs.some((bmc, j) => attestationsStarted(bmc) !== startedBefore[j])) throw new Error('a daemon attested during the parts: they would not be measured on their own');

      // … and the D-Bus round trip of ProvisionPeer itself, on the connected peer (a no-op for its machine).
      const t1 = performance.now();
      const r = await busctl(a.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', b.node.name);
      const callMs = performance.now() - t1;
      if (r.code !== 0) throw new Error(r.stderr);
      await sleep(300);
      if (bmcs.some((bmc, j) => attestationsStarted(bmc) !== startedBefore[j])) throw new Error('ProvisionPeer on the connected peer started an attestation');

      partsBy.attestAB.push(ab);
      partsBy.attestBA.push(ba);
      partsBy.link.push(linkMs);
      partsBy.call.push(callMs);
      parts.push(ab + ba + linkMs + callMs);

      // Where the whole went, from the daemons' own log lines (written seconds ago, so all read by now).
      const aAttesting = logTime(a, `attesting ${b.node.name} at `, since, end);
      const bAttestedBy = logTime(b, `attested by ${a.node.address} `, since, end);
      const bAttesting = logTime(b, `attesting ${a.node.name} at `, since, end);
      const aAttested = logTime(a, `attested ${b.node.name} (`, since, end + 1000);
      const bAttested = logTime(b, `attested ${a.node.name} (`, since, end);
      went.toAttesting.push(aAttesting - since);
      went.toAttestedBy.push(bAttestedBy - aAttesting);
      went.toAttestingBack.push(bAttesting - bAttestedBy);
      went.back.push(bAttested - bAttesting);
      went.toConnected.push(end - bAttested);
      went.first.push(aAttested - aAttesting);
    }
    const med = (xs: readonly number[]) => quantile(xs, 0.5);
    const ratio = med(whole) / med(parts);
    console.log(
      formatFigure({
        name: `ProvisionPeer(peer) → Connected on both sides, attested, median (n=${TRIALS})`,
        value: med(whole),
        unit: 'ms',
        ratio: { value: ratio, against: 'attestation both ways + link establishment + D-Bus call' },
      }),
    );
    console.log(formatFigure({ name: '  sum of its parts, median', value: med(parts), unit: 'ms' }));
    console.log(formatFigure({ name: `    attestation ${a.node.name} → ${b.node.name} on its own, median`, value: med(partsBy.attestAB), unit: 'ms' }));
    console.log(formatFigure({ name: `    attestation ${b.node.name} → ${a.node.name} on its own, median`, value: med(partsBy.attestBA), unit: 'ms' }));
    console.log(formatFigure({ name: '    link establishment with trust present (InProgress → Connected), median', value: med(partsBy.link), unit: 'ms' }));
    console.log(formatFigure({ name: '    ProvisionPeer D-Bus round trip (busctl), median', value: med(partsBy.call), unit: 'ms' }));
    console.log(`  goal ≤ 2x: ${ratio <= 2 ? 'met' : 'NOT met'}`);
    const span = (label: string, xs: readonly number[]) => `${label} ${med(xs).toFixed(0)} ms`;
    console.log(
      `  where the whole went (daemon logs, each step's median): ${[
        span(`ProvisionPeer → ${a.node.name} attesting`, went.toAttesting),
        span(`→ ${b.node.name} told it was attested`, went.toAttestedBy),
        span(`→ ${b.node.name} attesting back`, went.toAttestingBack),
        span(`→ ${b.node.name} trusts ${a.node.name}`, went.back),
        span('→ Connected on both sides', went.toConnected),
      ].join(', ')} (${span(`${a.node.name}'s own attestation`, went.first)})`,
    );

    // 2. Discovery latency: restart bmc-2's lldpd and follow the neighbour through the pipeline.
    const discovery: number[] = [];
    const floor: number[] = [];
    const watcher = client(a);
    const bridgeAdded: number[] = [];
    watcher.on('message', (m: dbus.Message) => {
      if (m.member === 'InterfacesAdded' && String(m.body[0]).includes('/network/lldp/')) bridgeAdded.push(Date.now());
    });
    await addMatch(watcher, "type='signal',sender='xyz.openbmc_project.LLDP',interface='org.freedesktop.DBus.ObjectManager'", 5000);
    for (let i = 0; i < TRIALS; i++) {
      const stopped = Date.now();
      await stopProcess(b.lldpd.process);
      const gone = await a.recorder.waitFor((c) => c.peer === b.node.name && c.lastFailure?.startsWith('LLDP_GONE') === true, { since: stopped, timeoutMs: STEP_MS });
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
    const d = quantile(discovery, 0.5);
    const f = quantile(floor, 0.5);
    console.log(formatFigure({ name: `discovery: lldpd sees the neighbour → per-peer object, median (n=${TRIALS})`, value: d, unit: 'ms', ratio: { value: d / Math.max(f, 1), against: 'lldpd → bridge object on D-Bus' } }));
    console.log(formatFigure({ name: '  lldpd → bridge object, median', value: f, unit: 'ms' }));
  } finally {
    for (const c of clients) c.disconnect();
    for (const bmc of bmcs) bmc.recorder.close();
    await rack?.teardown();
    for (const bus of buses) await bus.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench('rack', main);
