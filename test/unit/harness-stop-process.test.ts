/**
 * The harness stops what a test started even when it ignores SIGTERM: a process group (a `pnpm -s …`
 * and the node under it) goes with its every member, by the group's PID, within a deadline.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { stopProcessGroup } from '../harness/stop-process.ts';

/** Whether a process with this PID still runs (a zombie waiting to be reaped does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state …": comm may hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('stopProcessGroup()', () => {
  it('stops a group whose members ignore SIGTERM: SIGKILL after the grace period, the member too', async () => {
    // The shell and its sleep both ignore SIGTERM; the shell prints the sleep's PID.
    const child = spawn('sh', ['-c', 'trap "" TERM; sleep 3600 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const member = await withTimeout(
        new Promise<number>((res) => child.stdout.once('data', (d: Buffer) => res(Number(d.toString().trim())))),
        30_000,
        'the member PID',
      );
      assert.ok(member > 0 && alive(member));
      // stopProcessGroup's own deadlines answer; the test's only keeps a regression from hanging.
      await withTimeout(stopProcessGroup(child, 200), 60_000, 'the test waiting for the stop');
      assert.notEqual(child.signalCode, null, 'the leader was killed');
      assert.ok(await withTimeout(waitUntilGone(member), 30_000, 'the member going'), 'the member went with its group');
    } finally {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGKILL');
    }
  });
});

/** Resolves true once `pid` no longer runs. */
async function waitUntilGone(pid: number): Promise<boolean> {
  while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
  return true;
}
