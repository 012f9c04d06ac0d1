import { mkdirSync } from 'node:fs';
import { REPO } from './daemon.ts';
import { runTool, type ToolResult } from './run-tool.ts';

/** A fixture script run on a disk that fills up: where it runs and with what. */
export interface TinyTmpfsRun {
  /** The directory made a 64 KiB tmpfs (created); the fixture's first argument. */
  readonly dir: string;
  /** The fixture script (TypeScript, run with tsx). */
  readonly fixture: string;
  /** Its further arguments. */
  readonly args: readonly string[];
  readonly timeoutMs: number;
}

/** Why a test of a full disk needs root, for its skip. */
export const TINY_TMPFS_NEEDS = 'needs root: the trust directory is a tiny tmpfs in a mount namespace of its own';

/**
 * Runs the fixture as root in a mount namespace of its own, with a 64 KiB tmpfs on `dir`: a real
 * disk with no room left once filled, that vanishes with the namespace (no mount is left behind).
 */
export function runOnTinyTmpfs(o: TinyTmpfsRun): Promise<ToolResult> {
  mkdirSync(o.dir, { recursive: true });
  const script = 'mount -t tmpfs -o size=64k,mode=0700 tmpfs "$0" && exec "$@"';
  return runTool('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, o.dir, process.execPath, '--import', 'tsx', o.fixture, o.dir, ...o.args], {
    cwd: REPO,
    timeoutMs: o.timeoutMs,
  });
}
