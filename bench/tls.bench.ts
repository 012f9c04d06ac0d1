// The peer link, side by side in one run:
//  1. responder handshakes per second against `openssl s_server` with the same certificates and
//     suites, both driven by `openssl s_time` with a client certificate (goal >= 0.5x);
//  2. dead-peer detection time (peer frozen with SIGSTOP) against the configured window, i.e.
//     keepalive_interval + keepalive_timeout (goal <= 1.1x);
//  3. responder RSS per connected peer and idle CPU with 1,000 client links held by a load process
//     at a 1 s keep-alive (goals <= 30 KB per peer, < 0.5 % CPU for one peer), against a floor: a
//     bare `tls.createServer` with the same credentials that only answers `alive`, under the same load.
// The responder and the load run in child processes of this same file (`--role responder|load`),
// so that their memory and CPU are measured alone. Everything listens on 127.0.0.1 only.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createTlsServer } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import winston from 'winston';
import type { LinkEvent } from '../machines/events.ts';
import { CredentialHolder } from '../src/pki/certificate/index.ts';
import { BmcResponder } from '../src/tls/bmc-responder.ts';
import { detectionWindowMs, type LinkTimings } from '../src/tls/link-timings.ts';
import { TLS12_CIPHERS, TLS13_SUITES } from '../src/tls/tls-profile.ts';
import { TlsLinkClient } from '../src/tls/tls-link-client.ts';
import { eventually, freePort } from '../test/harness/daemon.ts';
import { stopProcess } from '../test/harness/stop-process.ts';
import { createTestPki, type TestPki } from '../test/harness/test-pki.ts';
import { formatFigure, settle } from './harness.ts';

const HANDSHAKE_SECONDS = 5;
const DETECTION_TRIALS = 6;
const LOAD_PEERS = 1000;
const CPU_SAMPLE_MS = 10_000;
/** Detection: 1 s keep-alive, 0.5 s timeout, so the window is 1.5 s. */
const DETECT_TIMINGS: LinkTimings = { keepaliveIntervalMs: 1000, keepaliveTimeoutMs: 500, handshakeTimeoutMs: 5000, idleTimeoutMs: 20_000 };
/** Load: the 1 s keep-alive of the brief; the server's idle timeout stays well above it. */
const LOAD_TIMINGS: LinkTimings = { keepaliveIntervalMs: 1000, keepaliveTimeoutMs: 3000, handshakeTimeoutMs: 10_000, idleTimeoutMs: 20_000 };
const silentLog = () => winston.createLogger({ silent: true });

/** Credentials of one side, read from the PEM files a TestPki wrote. */
function holderFromFiles(env: NodeJS.ProcessEnv, prefix: string): CredentialHolder {
  const read = (k: string) => readFileSync(env[`${prefix}_${k}`] ?? '', 'utf8');
  const creds = { keyPem: read('KEY'), certChainPem: read('CHAIN'), caPem: read('CA'), notAfter: new Date(Date.now() + 86_400_000) };
  const holder = new CredentialHolder();
  holder.set({ server: creds, client: creds });
  return holder;
}

const staticTrust = (pem: string) => ({ caPems: () => [pem], onChange: () => () => undefined });

// ---------------------------------------------------------------- child roles

/** `--role responder PORT`: bmc-a's BmcResponder until killed. */
async function responderRole(port: number): Promise<void> {
  const responder = new BmcResponder({
    port,
    host: '127.0.0.1',
    timings: LOAD_TIMINGS,
    maxConnections: LOAD_PEERS + 100,
    credentials: holderFromFiles(process.env, 'SELF'),
    trust: staticTrust(readFileSync(process.env['PEER_CA'] ?? '', 'utf8')),
    log: silentLog(),
    onEvent: () => undefined,
  });
  await responder.listen();
  // SIGUSR2: collect garbage now, so the parent's RSS readings compare live memory, not GC timing.
  const gc: unknown = Reflect.get(globalThis, 'gc');
  process.on('SIGUSR2', () => (typeof gc === 'function' ? gc() : undefined));
  process.stdout.write('READY\n');
}

/** `--role bare PORT`: the floor, plain Node TLS with the same credentials, answering every line `alive`. */
async function bareRole(port: number): Promise<void> {
  const read = (k: string) => readFileSync(process.env[k] ?? '', 'utf8');
  const server = createTlsServer(
    { key: read('SELF_KEY'), cert: read('SELF_CHAIN'), ca: [read('PEER_CA')], requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    (socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (d: Buffer) => {
        for (const ch of d) if (ch === 0x0a) socket.write('alive\n');
      });
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const gc: unknown = Reflect.get(globalThis, 'gc');
  process.on('SIGUSR2', () => (typeof gc === 'function' ? gc() : undefined));
  process.stdout.write('READY\n');
}

/** `--role load PORT COUNT`: COUNT bmc-b TlsLinkClients at a 1 s keep-alive; prints `UP n` / `DOWN n`. */
async function loadRole(port: number, count: number): Promise<void> {
  const credentials = holderFromFiles(process.env, 'SELF');
  const trust = staticTrust(readFileSync(process.env['PEER_CA'] ?? '', 'utf8'));
  let up = 0;
  let down = 0;
  const onEvent = (e: LinkEvent) => {
    if (e.type === 'LINK_UP') up++;
    else down++;
  };
  for (let i = 0; i < count; i++) {
    new TlsLinkClient({ target: { name: 'bmc-a', address: '127.0.0.1', port }, timings: LOAD_TIMINGS, credentials, trust, log: silentLog(), onEvent }).start();
    if (i % 50 === 49) await sleep(20); // do not turn the connect burst into a SYN flood
  }
  setInterval(() => process.stdout.write(`UP ${up} DOWN ${down}\n`), 250);
}

// ---------------------------------------------------------------- helpers of the main role

/** A child of this file (or any command) whose output is collected; stopped by PID at the end. */
interface Child {
  readonly process: ChildProcess;
  output(): string;
}

const children: ChildProcess[] = [];

function startChild(cmd: string, args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4096)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4096)));
  return { process: child, output: () => out };
}

function startRole(role: string, args: (string | number)[], env: Record<string, string>): Child {
  return startChild(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename, '--role', role, ...args.map(String)], env);
}

/** RSS of a responder child after it collected garbage (see responderRole). */
async function settledRssKb(pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await sleep(500);
  return procStats(pid).rssKb;
}

async function waitFor(child: Child, pattern: RegExp, what: string, timeoutMs = 30_000): Promise<void> {
  if (!(await eventually(() => pattern.test(child.output()) || child.process.exitCode !== null, timeoutMs, 20)) || !pattern.test(child.output())) {
    throw new Error(`${what} did not happen: ${child.output()}`);
  }
}

function sideEnv(pki: TestPki, side: 'a' | 'b'): Record<string, string> {
  const self = side === 'a' ? pki.a : pki.b;
  const leaf = side === 'a' ? self.server : self.client;
  return {
    SELF_KEY: leaf.keyFile,
    SELF_CHAIN: leaf.chainFile,
    SELF_CA: self.ca.certFile,
    PEER_CA: (side === 'a' ? pki.b : pki.a).ca.certFile,
  };
}

/** RSS in KiB and CPU ticks (user + system) of a process, from /proc. */
function procStats(pid: number): { rssKb: number; ticks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return { rssKb, ticks: Number(fields[11]) + Number(fields[12]) };
}

/** Percent of one core a process used over `ms` (CLK_TCK is 100 on Linux). */
async function cpuPercent(pid: number, ms: number): Promise<number> {
  const t0 = procStats(pid).ticks;
  const started = performance.now();
  await sleep(ms);
  const elapsed = performance.now() - started;
  return ((procStats(pid).ticks - t0) * 10 * 100) / elapsed;
}

/** One `openssl s_time` run against a server: handshakes per wall second and per server CPU second. */
interface HandshakeRate {
  readonly perSecond: number;
  readonly perServerCpuSecond: number;
}

/** Runs `openssl s_time -new` with bmc-b's client certificate against the server process `pid`. */
async function sTime(pki: TestPki, port: number, pid: number): Promise<HandshakeRate> {
  const started = performance.now();
  const ticks0 = procStats(pid).ticks;
  const c = startChild('openssl', [
    's_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(HANDSHAKE_SECONDS),
    '-cert', pki.b.client.certFile, '-key', pki.b.client.keyFile, '-CAfile', pki.a.ca.certFile, '-verify', '1',
  ]);
  await new Promise<void>((res) => c.process.once('exit', () => res()));
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = (procStats(pid).ticks - ticks0) / 100;
  const n = Number(/(\d+) connections in [\d.]+s/.exec(c.output())?.[1]);
  if (!n) throw new Error(`s_time printed no count: ${c.output()}`);
  return { perSecond: n / seconds, perServerCpuSecond: n / cpuSeconds };
}

async function handshakes(pki: TestPki): Promise<void> {
  const oursPort = await freePort();
  const ours = startRole('responder', [oursPort], sideEnv(pki, 'a'));
  await waitFor(ours, /READY/, 'responder start');
  const sPort = await freePort();
  const sServer = startChild('openssl', [
    's_server', '-accept', String(sPort), '-rev',
    '-cert', pki.a.server.certFile, '-key', pki.a.server.keyFile, '-cert_chain', pki.a.ca.certFile,
    '-CAfile', pki.b.ca.certFile, '-Verify', '1', '-verify_return_error', '-no_ticket',
    '-cipher', TLS12_CIPHERS.join(':'), '-ciphersuites', TLS13_SUITES.join(':'), '-groups', 'X25519:P-256:P-384',
  ]);
  await waitFor(sServer, /ACCEPT/, 'openssl s_server start');
  // Alternate twice so that drift in machine load hits both the same way.
  const ours_: HandshakeRate[] = [];
  const theirs: HandshakeRate[] = [];
  for (let round = 0; round < 2; round++) {
    ours_.push(await sTime(pki, oursPort, ours.process.pid ?? 0));
    await settle();
    theirs.push(await sTime(pki, sPort, sServer.process.pid ?? 0));
    await settle();
  }
  const mean = (xs: HandshakeRate[], k: keyof HandshakeRate) => xs.reduce((a, b) => a + b[k], 0) / xs.length;
  for (const [k, label] of [
    ['perSecond', 'handshakes per wall second (one s_time client, which is itself a limit)'],
    ['perServerCpuSecond', 'handshakes per second of server CPU (capacity)'],
  ] as const) {
    console.log(formatFigure({ name: `openssl s_server ${label}`, value: mean(theirs, k), unit: '/s' }));
    console.log(
      formatFigure({
        name: `BmcResponder ${label}`,
        value: mean(ours_, k),
        unit: '/s',
        ratio: { value: mean(ours_, k) / mean(theirs, k), against: 'openssl s_server; goal >= 0.5' },
      }),
    );
  }
  await stopProcess(ours.process);
  await stopProcess(sServer.process);
}

async function detection(pki: TestPki): Promise<void> {
  const port = await freePort();
  const peer = startRole('responder', [port], sideEnv(pki, 'a'));
  await waitFor(peer, /READY/, 'responder start');
  const pid = peer.process.pid ?? 0;
  const credentials = holderFromFiles(sideEnv(pki, 'b'), 'SELF');
  const trust = staticTrust(pki.a.ca.pem);
  const window = detectionWindowMs(DETECT_TIMINGS);
  const frozen: number[] = [];
  /** A bmc-b link to the peer that notes when it came up and when it went down. */
  const timedLink = () => {
    const at = { up: 0, down: 0 };
    const client = new TlsLinkClient({
      target: { name: 'bmc-a', address: '127.0.0.1', port },
      timings: DETECT_TIMINGS,
      credentials,
      trust,
      log: silentLog(),
      onEvent: (e: LinkEvent) => {
        if (e.type === 'LINK_UP') at.up = performance.now();
        else at.down = performance.now();
      },
    });
    client.start();
    return { client, at };
  };
  for (let trial = 0; trial < DETECTION_TRIALS; trial++) {
    const { client, at } = timedLink();
    if (!(await eventually(() => at.up > 0, 10_000, 5))) throw new Error('detection: link did not come up');
    // Freeze at a different phase of the keep-alive cycle each trial.
    await sleep(DETECT_TIMINGS.keepaliveIntervalMs * (1 + trial / DETECTION_TRIALS));
    process.kill(pid, 'SIGSTOP');
    const stoppedAt = performance.now();
    await eventually(() => at.down > 0, window * 3, 2);
    process.kill(pid, 'SIGCONT');
    client.close();
    if (!at.down) throw new Error('detection: the frozen peer was never reported down');
    frozen.push(at.down - stoppedAt);
    await sleep(100);
  }
  // SIGKILL: the kernel closes the socket, so detection does not wait for the keep-alive.
  const last = timedLink();
  await eventually(() => last.at.up > 0, 10_000, 5);
  const killedAt = performance.now();
  peer.process.kill('SIGKILL');
  await eventually(() => last.at.down > 0, window * 3, 1);
  last.client.close();
  const killedDown = last.at.down;
  if (!killedDown) throw new Error('detection: the killed peer was never reported down');
  const worst = Math.max(...frozen);
  console.log(formatFigure({ name: 'configured detection window (keepalive_interval 1 s + keepalive_timeout 0.5 s)', value: window, unit: 'ms' }));
  console.log(
    formatFigure({
      name: `dead-peer detection, frozen peer (SIGSTOP), worst of ${DETECTION_TRIALS}`,
      value: worst,
      unit: 'ms',
      ratio: { value: worst / window, against: 'the window; goal <= 1.1' },
    }),
  );
  console.log(formatFigure({ name: `dead-peer detection, frozen peer, mean`, value: frozen.reduce((a, b) => a + b, 0) / frozen.length, unit: 'ms' }));
  console.log(formatFigure({ name: 'dead-peer detection, killed peer (SIGKILL)', value: killedDown - killedAt, unit: 'ms', ratio: { value: (killedDown - killedAt) / window, against: 'the window' } }));
}

/** RSS per peer of one server role under LOAD_PEERS links (baseline: the same server with one peer). */
async function rssPerPeer(
  pki: TestPki,
  role: 'responder' | 'bare',
): Promise<{ perPeerKb: number; base: number; loaded: number; idleCpu: number; onePeerCpu: number; pid: number; server: Child; load: Child; one: Child }> {
  const port = await freePort();
  const server = startRole(role, [port], sideEnv(pki, 'a'));
  await waitFor(server, /READY/, `${role} start`);
  const pid = server.process.pid ?? 0;
  // Let start-up work (JIT, GC of start-up garbage) finish, then measure the idle process alone.
  await sleep(10_000);
  const idleCpu = await cpuPercent(pid, CPU_SAMPLE_MS);
  const one = startRole('load', [port, 1], sideEnv(pki, 'b'));
  await waitFor(one, /UP 1 /, 'one peer up');
  await sleep(3000);
  const onePeerCpu = await cpuPercent(pid, 2 * CPU_SAMPLE_MS);
  const base = await settledRssKb(pid);
  const load = startRole('load', [port, LOAD_PEERS], sideEnv(pki, 'b'));
  await waitFor(load, new RegExp(`UP ${LOAD_PEERS} DOWN 0`), `${LOAD_PEERS} peers up`, 120_000);
  await sleep(5000);
  const loaded = await settledRssKb(pid);
  return { perPeerKb: (loaded - base) / LOAD_PEERS, base, loaded, idleCpu, onePeerCpu, pid, server, load, one };
}

async function memoryAndCpu(pki: TestPki): Promise<void> {
  // The floor first: what plain Node TLS costs per connection on this machine, same load.
  const floor = await rssPerPeer(pki, 'bare');
  for (const c of [floor.load, floor.one, floor.server]) await stopProcess(c.process);
  await settle();

  const ours = await rssPerPeer(pki, 'responder');
  const cpuLoaded = await cpuPercent(ours.pid, CPU_SAMPLE_MS);
  const downs = /DOWN (\d+)\s*$/.exec(ours.load.output())?.[1];
  console.log(formatFigure({ name: 'floor: bare Node TLS server RSS per connected peer', value: floor.perPeerKb, unit: 'KiB' }));
  console.log(formatFigure({ name: 'responder RSS with 1 peer', value: ours.base / 1024, unit: 'MiB' }));
  console.log(formatFigure({ name: `responder RSS with ${LOAD_PEERS + 1} peers`, value: ours.loaded / 1024, unit: 'MiB' }));
  console.log(formatFigure({ name: 'RSS per connected peer', value: ours.perPeerKb, unit: 'KiB', ratio: { value: ours.perPeerKb / floor.perPeerKb, against: 'bare Node TLS floor' } }));
  console.log(formatFigure({ name: 'RSS per connected peer against the goal', value: ours.perPeerKb, unit: 'KiB', ratio: { value: ours.perPeerKb / 30, against: '30 KB goal' } }));
  console.log(formatFigure({ name: 'responder CPU, idle, no peer (resolution 0.1 %)', value: ours.idleCpu, unit: '% of a core' }));
  console.log(formatFigure({ name: `responder CPU, ${LOAD_PEERS + 1} peers pinging every 1 s`, value: cpuLoaded, unit: '% of a core' }));
  console.log(formatFigure({ name: 'responder CPU per peer (loaded / peers)', value: cpuLoaded / (LOAD_PEERS + 1), unit: '% of a core', ratio: { value: cpuLoaded / (LOAD_PEERS + 1) / 0.5, against: '0.5 % goal' } }));
  console.log(formatFigure({ name: 'floor: bare Node TLS server CPU, 1 peer pinging every 1 s', value: floor.onePeerCpu, unit: '% of a core' }));
  console.log(formatFigure({ name: 'responder CPU, 1 peer pinging every 1 s (resolution 0.05 %)', value: ours.onePeerCpu, unit: '% of a core', ratio: { value: ours.onePeerCpu / 0.5, against: '0.5 % goal' } }));
  console.log(`links lost during the load: ${downs ?? '?'}`);
}

// ---------------------------------------------------------------- entry

const roleAt = process.argv.indexOf('--role');
if (roleAt !== -1) {
  const [role, a, b] = process.argv.slice(roleAt + 1);
  if (role === 'responder') await responderRole(Number(a));
  else if (role === 'bare') await bareRole(Number(a));
  else if (role === 'load') await loadRole(Number(a), Number(b));
  else throw new Error(`unknown role ${role}`);
} else {
  const pki = await createTestPki();
  try {
    await handshakes(pki);
    await settle();
    await detection(pki);
    await settle();
    await memoryAndCpu(pki);
  } finally {
    for (const c of children) await stopProcess(c);
  }
}
