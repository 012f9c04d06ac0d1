import type { ChildProcess } from 'node:child_process';

/** How long a process may take to go once SIGKILLed (reaped by the kernel, its exit read by node): a net, not a measurement. */
const KILLED_EXIT_DEADLINE_MS = 30_000;

/** Whether a child has exited, or never started (spawn failed: no 'exit' event will come). */
export const gone = (child: ChildProcess) => child.pid === undefined || child.exitCode !== null || child.signalCode !== null;

/** A child's name in the harness's errors: its command and PID. */
const nameOf = (child: ChildProcess) => `${child.spawnfile} (pid ${child.pid ?? 'none'})`;

/** Waits for a child's exit; rejects naming the process and `after` (what was done to it) at the deadline. */
export function waitForExit(child: ChildProcess, o: { readonly timeoutMs: number; readonly after: string }): Promise<void> {
  if (gone(child)) return Promise.resolve();
  return new Promise<void>((res, rej) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      rej(new Error(`${nameOf(child)} did not exit within ${o.timeoutMs / 1000} s ${o.after}`));
    }, o.timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      res();
    };
    child.once('exit', onExit);
  });
}

/**
 * Stops a child by its PID: SIGTERM, then SIGKILL after a grace period; rejects naming the process
 * if it has not gone KILLED_EXIT_DEADLINE_MS after the SIGKILL.
 */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (gone(child)) return;
  child.kill('SIGTERM');
  try {
    await waitForExit(child, { timeoutMs: graceMs, after: 'SIGTERM' });
  } catch {
    child.kill('SIGKILL');
    await waitForExit(child, { timeoutMs: KILLED_EXIT_DEADLINE_MS, after: 'SIGKILL' });
  }
}

/** Sends `signal` to the process group `child` leads (spawned with `detached: true`); none left is no error. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // the group is empty already
  }
}

/**
 * Stops a child that leads a process group of its own (a `pnpm -s …` and the node under it) with
 * its whole group, by the group's PID: SIGTERM, then SIGKILL after a grace period; rejects naming
 * the leader if it has not gone KILLED_EXIT_DEADLINE_MS after the SIGKILL.
 */
export async function stopProcessGroup(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (gone(child)) return;
  signalGroup(child, 'SIGTERM');
  try {
    await waitForExit(child, { timeoutMs: graceMs, after: 'SIGTERM to its process group' });
  } catch {
    signalGroup(child, 'SIGKILL');
    await waitForExit(child, { timeoutMs: KILLED_EXIT_DEADLINE_MS, after: 'SIGKILL to its process group' });
  }
}
