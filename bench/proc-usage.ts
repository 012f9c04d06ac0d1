// What a process has used so far, read from /proc (Linux): the one place the benches read it.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** Resident set size of a process in MiB (VmRSS); throws when it cannot be read (the process is gone). */
export function rssMiB(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid ?? 0}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no VmRSS for ${String(pid)}`);
  return Number(m[1]) / 1024;
}

/** CPU seconds (user + system) a process has used so far; throws when it cannot be read. */
export function cpuSeconds(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid ?? 0}/stat`, 'utf8');
  // "pid (comm) state ppid …": comm may hold spaces and parentheses; utime and stime are fields 14 and 15.
  const [utime, stime] = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .slice(11, 13)
    .map(Number);
  if (utime === undefined || stime === undefined || Number.isNaN(utime + stime)) throw new Error(`/proc/${String(pid)}/stat: no utime/stime`);
  return (utime + stime) / USER_HZ;
}

/**
 * Busy CPU seconds of the whole machine so far, all cores (user, nice, system, irq, softirq, steal
 * of /proc/stat): what a stretch of a bench cost every process together, ours or not.
 */
export function machineCpuSeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = [user, nice, system, irq, softirq, steal].reduce<number>((s, v) => s + (v ?? 0), 0);
  if (!line.startsWith('cpu ') || Number.isNaN(busy)) throw new Error('/proc/stat: no cpu line');
  return busy / USER_HZ;
}
