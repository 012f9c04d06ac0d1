/**
 * A shifted wall clock for the processes of one BMC, through libfaketime (Debian package
 * `faketime`, LD_PRELOAD). The offset is read from a file at every clock call, so a test can move
 * it while they run (a jump); the monotonic clock is left alone, as a real clock step leaves it.
 * Give the env only to the processes whose clock is meant to be off.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** libfaketime's preload library, wherever the multiarch directory puts it; undefined when not installed. */
export function libfaketime(): string | undefined {
  const lib = '/usr/lib';
  const dirs = existsSync(lib) ? readdirSync(lib).map((d) => join(lib, d, 'faketime', 'libfaketime.so.1')) : [];
  return [join(lib, 'faketime', 'libfaketime.so.1'), ...dirs].find((p) => existsSync(p));
}

/** One BMC's fake clock: the environment of its processes, and how to move it. */
export interface FakeClock {
  readonly env: Record<string, string>;
  /** The offset from the real clock in libfaketime's syntax: `+0`, `+10m`, `-12h`, `+1d`. */
  set(offset: string): void;
}

/** A fake clock whose offset lives in `file`, starting at `offset`. Throws when libfaketime is not installed. */
export function fakeClock(file: string, offset = '+0'): FakeClock {
  const preload = libfaketime();
  if (!preload) throw new Error('libfaketime is not installed (Debian package faketime, in .ci/apt-packages.txt)');
  const set = (o: string) => writeFileSync(file, `${o}\n`);
  set(offset);
  return {
    env: { LD_PRELOAD: preload, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    set,
  };
}
