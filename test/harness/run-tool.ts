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

/** Runs a command-line tool with a timeout and returns its exit code and output (never throws on exit != 0). */
export function runTool(cmd: string, args: readonly string[], opts: ToolOptions = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      [...args],
      {
        env: { ...process.env, ...opts.env },
        timeout: opts.timeoutMs ?? 30_000,
        encoding: 'utf8',
        maxBuffer: 16 * 1024 * 1024,
        cwd: opts.cwd,
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
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
