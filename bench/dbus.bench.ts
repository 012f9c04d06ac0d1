// D-Bus round trips: the daemon's `peerConnected` property against the bus daemon's own GetId,
// through one dbus-next client, and as `busctl` processes (what an operator's script pays).
import { rmSync } from 'node:fs';
import dbus from 'dbus-next';
import { IFACE, OBJECT, onBus, SERVICE, startDaemon, type DaemonHandle } from '../test/harness/daemon.ts';
import { startPrivateBus, type PrivateBus } from '../test/harness/private-bus.ts';
import { compare, settle } from './harness.ts';

const N_CLIENT = 500;
const N_PROCESS = 200;
const CALL_TIMEOUT_MS = 5000;

const getPeerConnected = () =>
  new dbus.Message({
    destination: SERVICE,
    path: OBJECT,
    interface: 'org.freedesktop.DBus.Properties',
    member: 'Get',
    signature: 'ss',
    body: [IFACE, 'peerConnected'],
  });
const getId = () =>
  new dbus.Message({
    destination: 'org.freedesktop.DBus',
    path: '/org/freedesktop/DBus',
    interface: 'org.freedesktop.DBus',
    member: 'GetId',
  });

/** Sends a call and fails on an error reply, so that a broken daemon cannot look fast. */
async function call(client: dbus.MessageBus, msg: dbus.Message): Promise<void> {
  const reply = await client.call(msg);
  if (reply?.body.length !== 1) throw new Error(`${msg.member}: unexpected reply`);
}

/** Runs busctl and fails on a non-zero exit. */
async function busctlOk(bus: PrivateBus, args: string[]): Promise<void> {
  const r = await onBus(bus, 'busctl', args, { timeoutMs: CALL_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`busctl ${args.join(' ')}: ${r.stderr}`);
}

let bus: PrivateBus | undefined;
let daemon: DaemonHandle | undefined;
let client: dbus.MessageBus | undefined;
try {
  bus = await startPrivateBus();
  daemon = await startDaemon({ bus });
  client = dbus.sessionBus({ busAddress: bus.address });
  const c = client;

  await compare({
    name: 'dbus-next get-property peerConnected round trip',
    op: () => call(c, getPeerConnected()),
    baselineName: 'dbus-next GetId round trip',
    baseline: () => call(c, getId()),
    n: N_CLIENT,
    warmup: 50,
    timeoutMs: CALL_TIMEOUT_MS,
  });
  await settle();
  const b = bus;
  await compare({
    name: 'busctl get-property peerConnected process',
    op: () => busctlOk(b, ['get-property', SERVICE, OBJECT, IFACE, 'peerConnected']),
    baselineName: 'busctl call GetId process',
    baseline: () => busctlOk(b, ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetId']),
    n: N_PROCESS,
    warmup: 10,
    timeoutMs: CALL_TIMEOUT_MS,
  });
} finally {
  client?.disconnect();
  await daemon?.stop();
  await bus?.stop();
  if (daemon) rmSync(daemon.dir, { recursive: true, force: true });
  if (bus) rmSync(bus.dir, { recursive: true, force: true });
}
