import { readdirSync, readFileSync } from 'node:fs';

/**
 * PIDs of the processes whose command line has `argument` as one of its arguments (Linux /proc):
 * a way to find, by PID, a process a library started without handing out its PID (Playwright's
 * Chromium, found by its unique `--user-data-dir=…`).
 */
export function pidsWithArgument(argument: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(argument)) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Whether `pid` leads a process group of its own (as a browser Playwright started does). */
function leadsGroup(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses.
    const [, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(pgrp) === pid;
  } catch {
    return false;
  }
}

/**
 * SIGKILLs every process with `argument` on its command line, by PID, and with it the process
 * group it leads, if any (a browser's helpers: zygote, renderers, GPU); returns the PIDs.
 */
export function killWithArgument(argument: string): number[] {
  const pids = pidsWithArgument(argument);
  for (const pid of pids) {
    try {
      process.kill(leadsGroup(pid) ? -pid : pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
