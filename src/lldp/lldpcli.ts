import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { JsonObjectStream } from './json-object-stream.ts';
import { parseLldpdReport, type LldpdReport } from './lldpd-json.ts';
import { errorMessage } from '../util/error-message.ts';

/** How to reach lldpd: the lldpcli binary and lldpd's control socket (absent: lldpd's default). */
export interface LldpcliTarget {
  readonly lldpcli: string;
  readonly socket?: string;
}

const socketArgs = (t: LldpcliTarget) => (t.socket ? ['-u', t.socket] : []);

/** `lldpcli -f json0 show neighbors`: lldpd's whole neighbour table, within `timeoutMs`. */
export function showNeighbours(target: LldpcliTarget, timeoutMs: number): Promise<LldpdReport> {
  return new Promise((resolve, reject) => {
    execFile(
      target.lldpcli,
      [...socketArgs(target), '-f', 'json0', 'show', 'neighbors'],
      { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`lldpcli show neighbors: ${stderr.trim() || err.message}`));
          return;
        }
        let report: LldpdReport | undefined;
        try {
          report = parseLldpdReport(JSON.parse(stdout));
        } catch (e) {
          reject(new Error(`lldpcli show neighbors printed no JSON: ${errorMessage(e)}`));
          return;
        }
        if (report?.kind === 'table') resolve(report);
        else reject(new Error('lldpcli show neighbors printed no neighbour table'));
      },
    );
  });
}

/** A running `lldpcli -f json0 watch`; stop() ends it by PID. */
export interface LldpWatchProcess {
  readonly child: ChildProcess;
  /** Settles when the watch process ends, with its stderr's last line. */
  readonly ended: Promise<string>;
  stop(): void;
}

/** Starts `lldpcli -f json0 watch` and hands each event to `onReport`. */
export function watchNeighbours(opts: {
  readonly target: LldpcliTarget;
  readonly onReport: (r: LldpdReport) => void;
  readonly onProblem: (message: string) => void;
}): LldpWatchProcess {
  const child = spawn(opts.target.lldpcli, [...socketArgs(opts.target), '-f', 'json0', 'watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stream = new JsonObjectStream((doc) => {
    const report = parseLldpdReport(doc);
    if (report) opts.onReport(report);
    else opts.onProblem('lldpcli watch printed an object that is no neighbour event');
  }, opts.onProblem);
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => stream.push(chunk));
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
  const ended = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(`cannot run ${opts.target.lldpcli}: ${err.message}`));
    child.once('exit', (code, signal) => {
      const last = stderr.trim().split('\n').pop() ?? '';
      resolve(`lldpcli watch ended (${signal ?? `exit ${String(code)}`})${last ? `: ${last}` : ''}`);
    });
  });
  return {
    child,
    ended,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
