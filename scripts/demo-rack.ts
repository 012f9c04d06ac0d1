// The two-BMC part of `pnpm -s demo` (as root): two BMCs as network namespaces on a veth pair,
// each with its own private bus, lldpd + lldp bridge, attestationd and provisioningd, trusting each
// other only through attestation (one ProvisionPeer, mutual SPDM attestation); prints a timeline of both
// statecharts and the inspector URL. Everything is stopped by PID and the namespaces removed, also
// at SIGINT or SIGTERM.
import { mkdtempSync } from 'node:fs';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerObjectPath } from '../src/dbus/peer-objects.ts';
import { busctl, freePort, getProperty, SERVICE, type DaemonHandle } from '../test/harness/daemon.ts';
import { createRack, type Rack } from '../test/harness/netns.ts';
import { startRackAttestationds } from '../test/harness/netns-attestationd.ts';
import { provisionPeer, startRackBmcs, type RackBmc } from '../test/harness/netns-bmc.ts';
import type { PrivateBus } from '../test/harness/private-bus.ts';
import { teardownOnSignal } from './demo-stop.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);
const INSPECT_PORT = 9000;

/** Prints each daemon's state changes as they happen, prefixed with the BMC name and the time since start. */
function timeline(bmcs: readonly RackBmc[], t0: number): () => void {
  const seen = new Map<DaemonHandle, number>();
  const print = (bmc: RackBmc) => {
    const lines = bmc.daemon.output().split('\n');
    const from = seen.get(bmc.daemon) ?? 0;
    for (const line of lines.slice(from, -1)) {
      const m = /^\S+ (\w+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const [, level, rest = ''] = m;
      const interesting = /^(state |peer \S+ state |D-Bus properties changed|LLDP neighbour)/.test(rest) || level === 'warn' || level === 'error';
      if (!interesting) continue;
      const t = ((Date.now() - t0) / 1000).toFixed(2).padStart(6);
      say(`  ${t}s  ${bmc.node.name.padEnd(6)} ${level === 'info' ? '' : `[${level}] `}${rest.replace(/ (peer|state|event)=\S+/g, '')}`);
    }
    seen.set(bmc.daemon, Math.max(from, lines.length - 1));
  };
  const timer = setInterval(() => bmcs.forEach(print), 100);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    bmcs.forEach(print);
  };
}

/**
 * The inspector listens on 127.0.0.1 inside bmc-1's namespace. A relay makes it reachable on the
 * host's 127.0.0.1: a helper inside the namespace serves a unix socket (path sockets are shared by
 * every namespace) and forwards to the inspector; the host side forwards TCP to that socket.
 */
async function relayInspector(rack: Rack, bmc: RackBmc, dir: string): Promise<{ url: string; server: Server }> {
  const sock = join(dir, 'inspector.sock');
  const helper = `const net=require('node:net');net.createServer((c)=>{const t=net.connect(${INSPECT_PORT},'127.0.0.1');c.pipe(t);t.pipe(c);c.on('error',()=>t.destroy());t.on('error',()=>c.destroy());}).listen(${JSON.stringify(sock)});`;
  rack.spawn(bmc.node, process.execPath, ['-e', helper], { stdio: 'ignore' });
  const port = await freePort();
  const server = createServer((c) => {
    const t = netConnect(sock);
    c.pipe(t);
    t.pipe(c);
    c.on('error', () => t.destroy());
    t.on('error', () => c.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}/`, server };
}

/** The two-BMC demo; resolves when it is over (Ctrl-C on a terminal, at once otherwise); rejects when the BMCs do not link up. */
export async function rackDemo(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'provisioningd-rack-demo-'));
  const buses: PrivateBus[] = [];
  let rack: Rack | undefined;
  let bmcs: RackBmc[] = [];
  let relay: Server | undefined;
  let stopTimeline: () => void = () => undefined;
  const end = teardownOnSignal(async () => {
    stopTimeline();
    relay?.close();
    for (const bmc of bmcs) bmc.recorder.close();
    await rack?.teardown();
    for (const bus of buses) await bus.stop();
  });
  try {
    say(`demo (pid ${process.pid}: SIGTERM or Ctrl-C stops everything it started), files in ${dir}`);
    rack = await createRack({ size: 2 });
    say(`two BMCs as network namespaces: ${rack.nodes.map((n) => `${n.name} (${n.ns}, ${n.ifname} ${n.address})`).join(', ')}`);
    say('each runs its own private bus, lldpd (tx-interval 1 s), the lldp bridge, attestationd (its own identity) and provisioningd; starting…');
    const t0 = Date.now();
    bmcs = await startRackBmcs(rack, dir, buses, { inspect_port: INSPECT_PORT, attestation_timeout: 30 });
    await startRackAttestationds(rack, bmcs);
    const [a, b] = bmcs;
    if (!a || !b) throw new Error('the rack has two BMCs');
    stopTimeline = timeline(bmcs, t0);
    for (const bmc of bmcs) say(`  ${bmc.node.name}: export DBUS_SYSTEM_BUS_ADDRESS='${bmc.bus.address}'`);

    say(`\n$ busctl call ${SERVICE} … ProvisionPeer s self   (on both)`);
    for (const bmc of bmcs) await provisionPeer(bmc, 'self');
    say('\nLLDP discovery: each BMC finds the other and dials it; without trust the handshake is refused.');
    for (const [x, y] of [[a, b], [b, a]] as const) {
      await x.recorder.waitFor((c) => c.peer === y.node.name && (c.lastFailure ?? '').startsWith('LINK_REJECTED'), { since: t0, timeoutMs: 30_000 });
    }
    say(`\nNo CA is placed by hand. ${a.node.name} attests ${b.node.name} over SPDM; ${b.node.name} attests it back.`);
    const since = Date.now();
    say(`$ busctl call … ProvisionPeer s ${b.node.name}   (on ${a.node.name})`);
    await provisionPeer(a, b.node.name);
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const hit = await x.recorder.waitFor((c) => c.peer === y.node.name && c.status === 'Connected' && !c.failureOnly, { since, timeoutMs: 90_000 });
      if (!hit) throw new Error(`${x.node.name} never connected to ${y.node.name}`);
    }
    stopTimeline();
    say('\nper-peer objects:');
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const tree = await busctl(x.bus, 'tree', '--list', SERVICE);
      say(`  ${x.node.name}: ${tree.stdout.trim().split('\n').filter((p) => p.includes('/peers/')).join(' ')}`);
      const status = await busctl(x.bus, 'get-property', SERVICE, peerObjectPath(y.node.name), 'xyz.openbmc_project.Provisioning.Peer', 'peerConnected');
      const attested = await busctl(x.bus, 'get-property', SERVICE, peerObjectPath(y.node.name), 'xyz.openbmc_project.Provisioning.Peer', 'attested');
      say(`    peers/${y.node.name}: peerConnected ${status.stdout.trim()}, attested ${attested.stdout.trim()}; root peerConnected ${await getProperty(x.bus, 'peerConnected')}`);
    }

    if (process.stdin.isTTY) {
      const inspector = await relayInspector(rack, a, dir);
      relay = inspector.server;
      say(`\ninspector of ${a.node.name}: ${inspector.url}   (Ctrl-C stops everything)`);
      await end.untilSignal();
    } else {
      say(`\n(the inspector of ${a.node.name} listens on 127.0.0.1:${INSPECT_PORT} inside ${a.node.ns}; run the demo on a terminal to get a URL on this host)`);
    }
  } finally {
    await end.stop();
    say(`files kept in ${dir}`);
  }
}
