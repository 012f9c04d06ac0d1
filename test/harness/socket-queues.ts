/** What waits in a socket's queues, read with ss (iproute2): how tests see a server that does not take what it was sent. */
import { runTool } from './run-tool.ts';

/** Runs ss with `args`; its lines, the header left out. */
async function ssLines(args: readonly string[]): Promise<string[]> {
  const r = await runTool('ss', ['-Htn', ...args], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`ss ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((line) => line.trim() !== '');
}

/** The TCP ports `pid` listens on. */
async function listeningPorts(pid: number): Promise<number[]> {
  const lines = await ssLines(['-lp']);
  return lines.filter((line) => line.includes(`pid=${pid},`)).map((line) => Number(/:(\d+)\s/.exec(line)?.[1]));
}

/**
 * Whether a TCP connection to a server holds bytes the server has not read: a request a stopped
 * (SIGSTOP) server cannot answer yet, the sign that a client now waits for it. The server is the
 * one listening on `port`, or every port `listenerPid` listens on; a connection counts whether it
 * was accepted or still waits in the listener's queue.
 */
export async function holdsUnreadBytes(at: { readonly port: number } | { readonly listenerPid: number }): Promise<boolean> {
  const ports = 'port' in at ? [at.port] : await listeningPorts(at.listenerPid);
  for (const port of ports) {
    const lines = await ssLines(['state', 'established', `( sport = :${port} )`]);
    if (lines.some((line) => Number(line.trim().split(/\s+/)[0]) > 0)) return true;
  }
  return false;
}

/** How many connections wait in the queue of the listener on `port` (made by the kernel, not accepted yet). */
export async function queuedConnections(port: number): Promise<number> {
  const lines = await ssLines(['state', 'listening', `( sport = :${port} )`]);
  return lines.reduce((n, line) => n + Number(line.trim().split(/\s+/)[0]), 0);
}
