/**
 * The README's first command, `pnpm -s demo`, as a newcomer runs it: as root the two-BMC demo
 * (network namespaces, LLDP, mutual SPDM attestation, the mTLS link), and its one-BMC form
 * (DEMO_ONE_BMC=1). Each ends with nothing of it left: no process of its session, no namespace of
 * its rack; also when it is ended half-way, by SIGTERM to its own process (`kill PID`: nothing else
 * gets a signal) or by Ctrl-C (the terminal sends SIGINT to the whole process group) while its
 * process is slow to run, as on a loaded machine.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { describe, it, type TestContext } from 'node:test';
import { eventually, REPO } from '../harness/daemon.ts';
import { canCreateNamespaces } from '../harness/netns.ts';
import { mustRun, runTool } from '../harness/run-tool.ts';
import { stopProcessGroup } from '../harness/stop-process.ts';

/** A whole demo, from its start to its end (a net on a loaded machine, not a timing claim). */
const DEMO_DEADLINE_MS = 240_000;
/** What is left once the demo has exited is gone by then (a net: it stops every process before it exits). */
const LEFTOVER_DEADLINE_MS = 15_000;
const CONNECTED = 'xyz.openbmc_project.Provisioning.Provisioning.PeerConnectionStatus.Connected';

/** A running `pnpm -s demo`, in a process group of its own as on a terminal. */
interface Demo {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Its exit status (the code, or 128 + the signal), once its output has ended; rejects at the deadline. */
  readonly ended: Promise<number>;
}

function startDemo(t: TestContext, env: Record<string, string> = {}): Demo {
  let out = '';
  let err = '';
  const child = spawn('pnpm', ['-s', 'demo'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } });
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  t.after(
    async () => {
      await stopProcessGroup(child, 30_000);
      // What a failing demo left behind, orphans too: stopped by PID, and its namespaces removed.
      for (const member of sessionMembers(child.pid)) {
        try {
          process.kill(Number(member.split(':')[0]), 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      for (const ns of namespacesIn(out)) await runTool('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
    },
    { timeout: 90_000 },
  );
  const ended = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pnpm -s demo did not end within ${DEMO_DEADLINE_MS / 1000} s:\n${out}\n${err}`)), DEMO_DEADLINE_MS);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
  return { child, stdout: () => out, stderr: () => err, ended };
}

/** The demo's files (it prints where they are first), removed after the test. */
function filesOf(t: TestContext, demo: Demo): string {
  const dir = /, files in (\/\S+)$/m.exec(demo.stdout())?.[1];
  assert.ok(dir, `the demo names its files:\n${demo.stdout()}`);
  t.after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 10_000 });
  return dir;
}

/**
 * The processes of the demo's session, orphans included: it runs in a session of its own (spawned
 * detached), which everything it starts inherits (buses, daemons, lldpd, bridges; none of them
 * starts a session of its own).
 */
function sessionMembers(sid: number | undefined): string[] {
  const found: string[] = [];
  if (sid === undefined) return found;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // pid (comm) state ppid pgrp session …; a zombie (Z) has exited, only its parent has not read that yet.
      const [state, , , session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(session) === sid && state !== 'Z') found.push(`${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The rack's namespaces, as the demo's output names them. */
const namespacesIn = (output: string): string[] => [...output.matchAll(/\((pd\w+-\d+), eth1 /g)].flatMap((m) => (m[1] ? [m[1]] : []));
const namespacesOf = (demo: Demo): string[] => namespacesIn(demo.stdout());

/** Asserts that nothing of the demo is left: no process of its session, none of its namespaces. */
async function assertNothingLeft(demo: Demo, namespaces: readonly string[]): Promise<void> {
  const netnsLeft = async () => {
    const list = await mustRun('ip', ['netns', 'list'], { timeoutMs: 10_000 });
    return namespaces.filter((ns) => new RegExp(`^${ns}\\b`, 'm').test(list));
  };
  const sid = demo.child.pid;
  await eventually(async () => sessionMembers(sid).length === 0 && (await netnsLeft()).length === 0, LEFTOVER_DEADLINE_MS);
  const output = `the demo's output:\n${demo.stdout()}\n${demo.stderr()}`;
  assert.deepEqual(sessionMembers(sid), [], `no process of the demo is left; ${output}`);
  assert.deepEqual(await netnsLeft(), [], `no namespace of the demo is left; ${output}`);
}

describe('the README: pnpm -s demo', () => {
  it('as root: two BMCs in network namespaces find each other over LLDP, attest each other and link up; it exits 0 and leaves nothing running', async (t) => {
    if (!canCreateNamespaces()) return t.skip('needs root (network namespaces): as another user the demo runs its one-BMC form, tested below');
    const demo = startDemo(t);
    const code = await demo.ended;
    filesOf(t, demo);
    assert.equal(code, 0, `${demo.stdout()}\n${demo.stderr()}`);
    const namespaces = namespacesOf(demo);
    assert.equal(namespaces.length, 2, `two namespaces named:\n${demo.stdout()}`);
    for (const [x, y] of [
      ['bmc-1', 'bmc-2'],
      ['bmc-2', 'bmc-1'],
    ]) {
      assert.ok(
        demo.stdout().includes(`peers/${y}: peerConnected s "${CONNECTED}", attested b true; root peerConnected ${CONNECTED}`),
        `${x} shows ${y} attested and Connected:\n${demo.stdout()}`,
      );
    }
    await assertNothingLeft(demo, namespaces);
  });

  it('DEMO_ONE_BMC=1: one provisioningd on a private bus provisions itself with the documented busctl call; it exits 0 and leaves nothing running', async (t) => {
    const demo = startDemo(t, { DEMO_ONE_BMC: '1' });
    const code = await demo.ended;
    filesOf(t, demo);
    assert.equal(code, 0, `${demo.stdout()}\n${demo.stderr()}`);
    assert.match(demo.stdout(), /^\$ busctl call xyz\.openbmc_project\.Provisioning \/xyz\/openbmc_project\/Provisioning xyz\.openbmc_project\.Provisioning\.Provisioning ProvisionPeer s self$/m);
    assert.match(demo.stdout(), /^ {2}provisioned {3}= true$/m);
    assert.match(demo.stdout(), /https\/server_cert\.pem: OK$/m, 'openssl verifies the issued server certificate against self_ca.pem');
    // The daemon's state lines, printed as they come, may fall between the call and its answer.
    assert.match(demo.stdout(), /ProvisionPeer s bmc-peer .*\n(?:.*\n)*? {2}\(accepted: attestation started\)$/m);
    await assertNothingLeft(demo, []);
  });

  /**
   * Starts the two-BMC demo and waits until all its processes run: it prints the buses' addresses
   * then, before it provisions both BMCs, waits for LLDP and links them, which takes seconds more.
   */
  const demoHalfWay = async (t: TestContext): Promise<{ demo: Demo; namespaces: string[]; pid: number }> => {
    const demo = startDemo(t);
    const running = await eventually(() => /^ {2}bmc-2: export DBUS_SYSTEM_BUS_ADDRESS=/m.test(demo.stdout()) || demo.child.exitCode !== null, DEMO_DEADLINE_MS, 20);
    assert.ok(running && demo.child.exitCode === null, `the demo's BMCs run:\n${demo.stdout()}\n${demo.stderr()}`);
    const dir = filesOf(t, demo);
    const namespaces = namespacesOf(demo);
    assert.equal(namespaces.length, 2, `two namespaces named:\n${demo.stdout()}`);
    assert.ok(sessionMembers(demo.child.pid).some((p) => p.includes(dir)), `its processes run before the signal: ${sessionMembers(demo.child.pid).join('; ')}`);
    const pid = Number(/^demo \(pid (\d+):/m.exec(demo.stdout())?.[1]);
    assert.ok(Number.isInteger(pid) && pid > 0, `the demo names its PID:\n${demo.stdout()}`);
    return { demo, namespaces, pid };
  };

  it("SIGTERM to the demo's own process half-way (`kill PID`, its BMCs running) stops everything it started and removes its namespaces", async (t) => {
    if (!canCreateNamespaces()) return t.skip('needs root (network namespaces)');
    const { demo, namespaces, pid } = await demoHalfWay(t);
    // The demo's process alone: its buses, daemons and lldpds get no signal but the demo's own stop.
    assert.doesNotThrow(() => process.kill(pid, 'SIGTERM'), `the demo still runs when the signal comes:\n${demo.stdout()}`);
    await demo.ended;
    await assertNothingLeft(demo, namespaces);
    assert.match(demo.stderr(), /demo: SIGTERM: stopping what it started/);
  });

  it("Ctrl-C half-way (SIGINT to the demo's process group, as a terminal sends it) while the demo is slow to run, stops everything it started and removes its namespaces", async (t) => {
    if (!canCreateNamespaces()) return t.skip('needs root (network namespaces)');
    const { demo, namespaces, pid } = await demoHalfWay(t);
    const group = demo.child.pid;
    assert.ok(group !== undefined && group > 0, 'the demo leads a process group of its own');
    // A loaded machine may not run the demo's process for a while when Ctrl-C comes: it is held
    // (SIGSTOP) for 200 ms. Nothing but a wrapper that gives up on it can end it meanwhile.
    process.kill(pid, 'SIGSTOP');
    try {
      assert.doesNotThrow(() => process.kill(-group, 'SIGINT'), `the demo still runs when the signal comes:\n${demo.stdout()}`);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // killed meanwhile (by a wrapper that gave up on it): the checks below say what it left
      }
    }
    const code = await demo.ended;
    assert.notEqual(code, 0, 'a demo ended half-way does not report success');
    await assertNothingLeft(demo, namespaces);
    assert.match(demo.stderr(), /demo: SIGINT: stopping what it started/);
  });
});
