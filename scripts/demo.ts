// `pnpm -s demo`: the main job on embedded defaults. As root: two BMCs in network namespaces,
// discovered over LLDP and linked (scripts/demo-rack.ts). Otherwise: a private system bus (with the
// shipped policy), one provisioningd on the software token, provisioned with the busctl command
// of docs/dbus-api.md; every state change is printed as it happens. Everything lives in a temp dir; every
// process is stopped by PID, also at SIGINT or SIGTERM. It exits 1 when the main job fails.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busctl, getProperty, IFACE, OBJECT, SERVICE, startDaemon, type DaemonHandle } from '../test/harness/daemon.ts';
import { canCreateNamespaces } from '../test/harness/netns.ts';
import { startPrivateBus, type PrivateBus } from '../test/harness/private-bus.ts';
import { rackDemo } from './demo-rack.ts';
import { endedBySignal, teardownOnSignal } from './demo-stop.ts';

const run = promisify(execFile);
const say = (line: string) => process.stdout.write(`${line}\n`);

/** Prints the daemon's state-change log lines as they arrive. */
function followStates(daemon: DaemonHandle): void {
  let seen = 0;
  const print = () => {
    const lines = daemon.output().split('\n');
    for (const line of lines.slice(seen, -1)) {
      // "<time> <level> <message> <fields>": show state changes, property changes and problems.
      const m = /^\S+ (\w+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const [, level, rest] = m;
      if (/^(state |peer \S+ state |D-Bus properties changed)/.test(rest ?? '') || level === 'warn' || level === 'error') {
        say(`  [daemon ${level}] ${(rest ?? '').replace(/ (peer|state|event)=\S+/g, '')}`);
      }
    }
    seen = Math.max(seen, lines.length - 1);
  };
  daemon.process.stderr?.on('data', () => setImmediate(print));
}

async function oneBmcDemo(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'provisioningd-demo-'));
  let bus: PrivateBus | undefined;
  let daemon: DaemonHandle | undefined;
  const end = teardownOnSignal(async () => {
    await daemon?.stop();
    await bus?.stop();
  });
  try {
    say(`demo (pid ${process.pid}: SIGTERM or Ctrl-C stops everything it started), files in ${dir}`);
    bus = await startPrivateBus();
    say(`private system bus: ${bus.address} (dbus-daemon pid ${bus.pid})`);
    say(`export DBUS_SYSTEM_BUS_ADDRESS='${bus.address}'   # to drive it yourself with busctl`);
    daemon = await startDaemon({ bus, dir, config: { name: 'bmc-demo' } });
    say(`provisioningd pid ${daemon.pid}, config ${daemon.confPath}, software token under ${String(daemon.config['state_dir'])}`);
    followStates(daemon);

    const show = async () => {
      say(`  provisioned   = ${await getProperty(bus as PrivateBus, 'provisioned')}`);
      say(`  peerConnected = ${await getProperty(bus as PrivateBus, 'peerConnected')}`);
    };
    say('\n$ busctl get-property … provisioned / peerConnected');
    await show();

    say(`\n$ busctl call ${SERVICE} ${OBJECT} ${IFACE} ProvisionPeer s self`);
    const call = await busctl(bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    if (call.code !== 0) throw new Error(`ProvisionPeer("self") failed: ${call.stderr.trim()}`);
    say('  (returned)');
    await new Promise((r) => setTimeout(r, 200));
    await show();
    if ((await getProperty(bus, 'provisioned')) !== 'true') throw new Error('provisioned is not true after ProvisionPeer("self") returned');

    const certs = join(String(daemon.config['cert_root']), 'etc/ssl/certs');
    say(`\ncertificates under ${certs}:`);
    for (const f of ['self_ca.pem', ...readdirSync(join(certs, 'https')).map((f) => `https/${f}`)]) say(`  ${f}`);
    const verify = await run('openssl', [
      'verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(certs, 'self_ca.pem'), join(certs, 'https/server_cert.pem'),
    ]);
    say(`$ openssl verify -x509_strict -purpose sslserver -CAfile self_ca.pem https/server_cert.pem\n  ${verify.stdout.trim()}`);
    const subject = await run('openssl', ['x509', '-noout', '-subject', '-ext', 'subjectAltName', '-enddate', '-in', join(certs, 'https/server_cert.pem')]);
    say(subject.stdout.trim().split('\n').map((l) => `  ${l.trim()}`).join('\n'));

    say(`\n$ busctl call … ProvisionPeer s bmc-peer   (attestation of a peer)`);
    const peer = await busctl(bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'bmc-peer');
    if (peer.code !== 0) throw new Error(`ProvisionPeer("bmc-peer") was refused: ${peer.stderr.trim()}`);
    say('  (accepted: attestation started)');
    await new Promise((r) => setTimeout(r, 500));
    await show();
    say(`\nfiles kept in ${dir}`);
  } finally {
    await end.stop();
  }
}

async function main(): Promise<void> {
  if (canCreateNamespaces() && process.env['DEMO_ONE_BMC'] === undefined) await rackDemo();
  else await oneBmcDemo();
}

main().catch((err: unknown) => {
  // A signal's teardown is under way (what the demo waited on went away with it): it exits when done.
  if (endedBySignal()) return;
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
