import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopProcess } from './stop-process.ts';

/** How long strace may take to attach to every thread of the process (a net, not a measurement). */
const ATTACH_DEADLINE_MS = 10_000;

/** A system call that strace shows entered and not yet returned: held at its entry while the delay runs. */
export interface HeldCall {
  /** The thread making the call. */
  readonly tid: number;
  readonly syscall: string;
  /** Its string arguments as strace prints them (paths), in order. */
  readonly strings: readonly string[];
  /** The paths of its file-descriptor arguments (strace -y), in order. */
  readonly fdPaths: readonly string[];
}

/** strace attached to a process, holding or failing the chosen system calls. */
export interface SyscallInjection {
  /** The strace process's PID. */
  readonly pid: number;
  /** The calls held (or running) right now, read from strace's output. */
  held(): HeldCall[];
  /** strace's output so far: every traced call, `(DELAYED)` after the ones it held, `(INJECTED)` after the ones it failed. */
  trace(): string;
  /** Stops strace by its PID (SIGTERM, then SIGKILL): it detaches, a call it holds goes on at once, and no call fails any more. */
  stop(): Promise<void>;
}

/** What injectSyscalls() needs: whom to trace, which calls to hold or fail, and where strace writes. */
export interface SyscallInjectionOptions {
  readonly pid: number;
  /** A directory for strace's output file. */
  readonly dir: string;
  /** Calls held at their entry for `delayMs`, then run (a disk that hangs): strace's syscall names, e.g. `['rename', 'renameat', 'renameat2']`. */
  readonly hold?: { readonly syscalls: readonly string[]; readonly delayMs: number };
  /** Calls made to return `errno` at once, without the kernel running them (a failing disk). */
  readonly fail?: { readonly syscalls: readonly string[]; readonly errno: string };
  /**
   * Trace only the calls on these paths (strace -P: a path argument, or a descriptor open on the
   * path itself, not on a file below it). strace 6.1 matches only the first path of a rename.
   */
  readonly paths?: readonly string[];
}

/**
 * Attaches `strace -f -y -p PID` to every thread of a running process and has it hold each call of
 * `hold.syscalls` for `hold.delayMs` at its entry (`-e inject=…:delay_enter=`), before the kernel
 * runs it, and each call of `fail.syscalls` return `fail.errno` instead (`-e inject=…:error=`).
 * Resolves once strace is attached, or with `{ skip }` (strace's own words) when it is missing or
 * cannot attach or inject here (no ptrace in this container, an strace without injection).
 */
export async function injectSyscalls(o: SyscallInjectionOptions): Promise<SyscallInjection | { readonly skip: string }> {
  const out = join(o.dir, `strace-${o.pid}.txt`);
  const traced = [...(o.hold?.syscalls ?? []), ...(o.fail?.syscalls ?? [])].join(',');
  if (traced === '') throw new Error('injectSyscalls: name the calls to hold or to fail');
  const holding = o.hold ? ['-e', `inject=${o.hold.syscalls.join(',')}:delay_enter=${Math.round(o.hold.delayMs * 1000)}`] : [];
  const failing = o.fail ? ['-e', `inject=${o.fail.syscalls.join(',')}:error=${o.fail.errno}`] : [];
  const child = spawn('strace', ['-f', '-y', '-p', String(o.pid), '-o', out, ...(o.paths ?? []).flatMap((p) => ['-P', p]), '-e', `trace=${traced}`, ...holding, ...failing], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const attached = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ATTACH_DEADLINE_MS);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      child.stderr.off('data', onData);
      resolve(ok);
    };
    // strace says so once it has seized every thread: "Process N attached[ with M threads]".
    const onData = () => {
      if (new RegExp(`Process ${o.pid} attached`).test(stderr)) done(true);
    };
    child.stderr.on('data', onData);
    child.once('error', () => done(false));
    child.once('exit', () => done(false));
  });
  if (!attached) {
    const why = stderr.trim() || (child.pid === undefined ? 'strace could not be started (not installed?)' : `no "attached" within ${ATTACH_DEADLINE_MS / 1000} s`);
    await stopProcess(child);
    return { skip: `strace cannot hold or fail ${traced} of pid ${o.pid} here: ${why}` };
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('strace attached without a pid');
  const trace = () => {
    try {
      return readFileSync(out, 'utf8');
    } catch {
      return '';
    }
  };
  return { pid, trace, held: () => heldCalls(trace()), stop: () => stopProcess(child) };
}

/**
 * The calls entered and not returned in strace -f output (`-o`: each line starts with the thread id,
 * padded to 5 columns): `TID name(args` (the line not ended yet,
 * or ended `<unfinished ...>` when another thread printed meanwhile) with no `TID <... name resumed>`
 * nor exit of that thread after it.
 */
export function heldCalls(trace: string): HeldCall[] {
  const open = new Map<number, HeldCall>();
  for (const line of trace.split('\n')) {
    const resumed = /^(\d+) +(?:<\.\.\. \w+ resumed>|\+\+\+ )/.exec(line);
    if (resumed) {
      open.delete(Number(resumed[1]));
      continue;
    }
    const entry = /^(\d+) +(\w+)\((.*)$/.exec(line);
    if (!entry) continue;
    const [, tid, syscall, rest = ''] = entry;
    if (/\) += /.test(rest)) continue;
    const strings = [...rest.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? '');
    // -y prints a descriptor as `21</its/path>`.
    const fdPaths = [...rest.matchAll(/(?:^|[(, ])\d+<([^>]*)>/g)].map((m) => m[1] ?? '');
    open.set(Number(tid), { tid: Number(tid), syscall: syscall ?? '', strings, fdPaths });
  }
  return [...open.values()];
}
