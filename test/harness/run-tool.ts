import { execFile } from 'node:child_process';

/** A finished command's output. */
export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of one tool run in a test: environment additions, stdin, timeout. */
export interface ToolOptions {
  readonly env?: Record<string, string>;
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

/**
 * How long past its timeout a tool may take to be reported: node's own timeout only sends SIGTERM
 * and then waits for the output to end, which a tool ignoring the signal, or a process it started
 * that holds the output open, would make forever.
 */
const REPORT_GRACE_MS = 10_000;

/** Runs a command-line tool with a timeout and returns its exit code and output (never throws on exit != 0). */
export function runTool(cmd: string, args: readonly string[], opts: ToolOptions = {}): Promise<ToolResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      [...args],
      {
        env: { ...process.env, ...opts.env },
        timeout: timeoutMs,
        encoding: 'utf8',
        maxBuffer: 16 * 1024 * 1024,
        cwd: opts.cwd,
      },
      (err, stdout, stderr) => {
        clearTimeout(net);
        if (err && typeof err.code !== 'number') {
          reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
    const net = setTimeout(() => {
      child.kill('SIGKILL');
      for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
      reject(new Error(`${cmd} ${args.join(' ')} (pid ${child.pid}): no result ${(timeoutMs + REPORT_GRACE_MS) / 1000} s after it started, though SIGTERMed at ${timeoutMs / 1000} s`));
    }, timeoutMs + REPORT_GRACE_MS);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Like runTool but throws with the tool's stderr when it exits non-zero. */
export async function mustRun(cmd: string, args: readonly string[], opts: ToolOptions = {}): Promise<string> {
  const r = await runTool(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}
