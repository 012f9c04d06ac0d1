import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** What firstStdoutLine() needs: what the line is (for errors), its deadline, and the child's stderr so far. */
export interface FirstLineOptions {
  /** The child in errors; its command when not given. */
  readonly name?: string;
  /** What the line holds, e.g. `its address`. */
  readonly what: string;
  readonly deadlineMs: number;
  readonly stderr: () => string;
}

/**
 * The first line a starting child prints on stdout (a bus daemon's address, a script's PID),
 * trimmed; rejects naming the child when it exits, cannot start, or prints nothing by the deadline.
 */
export function firstStdoutLine(child: ChildProcess, o: FirstLineOptions): Promise<string> {
  const name = o.name ?? child.spawnfile;
  return new Promise<string>((res, rej) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const done = (settle: () => void) => {
      clearTimeout(timer);
      rl.close();
      child.off('exit', onExit);
      child.off('error', onError);
      settle();
    };
    const timer = setTimeout(() => done(() => rej(new Error(`${name} printed no ${o.what} in ${o.deadlineMs / 1000} s: ${o.stderr()}`))), o.deadlineMs);
    const onExit = (code: number | null) => done(() => rej(new Error(`${name} exited ${code}: ${o.stderr()}`)));
    const onError = (err: Error) => done(() => rej(new Error(`${name} did not start: ${err.message}`)));
    rl.once('line', (line) => done(() => res(line.trim())));
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
