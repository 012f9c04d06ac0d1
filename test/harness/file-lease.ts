import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { stopProcess, waitForExit } from './stop-process.ts';

/**
 * A file whose open() hangs, as on a disk that hangs: another process holds a write lease on it
 * (fcntl F_SETLEASE, F_WRLCK) and never gives it up, so the kernel keeps any other open() of the
 * file waiting until release() or the kernel's lease-break-time (/proc/sys/fs/lease-break-time,
 * 45 s by default) has passed.
 */
export interface FileLease {
  /** Resolves once some process tried to open the file (the kernel asked the holder to let go): that open() now waits. */
  readonly opened: Promise<void>;
  /** Gives the lease up: the waiting open() goes on. */
  release(): Promise<void>;
}

/** How long the kernel keeps an open() of a leased file waiting for the holder (/proc/sys/fs/lease-break-time). */
export function leaseBreakMs(): number {
  return Number(readFileSync('/proc/sys/fs/lease-break-time', 'utf8').trim()) * 1000;
}

/** How long the holder may take to start, or to exit once told: nets, not measurements. */
const HOLDER_DEADLINE_MS = 30_000;

/**
 * The holder, in perl (perl-base: on every Debian system): F_SETLEASE is 1024 on Linux. A lease break
 * (SIGIO) is reported on stdout and otherwise ignored; the lease goes when stdin ends.
 */
const HOLDER = String.raw`
use Fcntl;
$| = 1;
$SIG{IO} = sub { print "opened\n" };
open(my $fh, "+<", $ARGV[0]) or die "open $ARGV[0]: $!\n";
fcntl($fh, 1024, F_WRLCK) or die "F_SETLEASE $ARGV[0]: $!\n";
print "held\n";
while (1) { my $line = <STDIN>; last if defined $line || !$!{EINTR}; }
`;

/** Holds a write lease on `path` (a regular file, not open elsewhere) until release(). */
export async function holdWriteLease(path: string): Promise<FileLease> {
  const child = spawn('perl', ['-e', HOLDER, path], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onOpened: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (onOpened = resolve));
  const held = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`perl (pid ${child.pid}) did not take a lease on ${path} within ${HOLDER_DEADLINE_MS / 1000} s: ${err}`)), HOLDER_DEADLINE_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('held\n')) {
        clearTimeout(timer);
        resolve();
      }
      if (out.includes('opened\n')) onOpened();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the lease holder on ${path} exited (${code ?? signal}) before holding it: ${err}`));
    });
    child.once('error', reject);
  });
  try {
    await held;
  } catch (e) {
    await stopProcess(child);
    throw e;
  }
  return {
    opened,
    async release() {
      child.stdin.end();
      try {
        await waitForExit(child, { timeoutMs: HOLDER_DEADLINE_MS, after: 'its stdin ended' });
      } finally {
        await stopProcess(child);
      }
    },
  };
}
