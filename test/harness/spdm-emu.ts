// DMTF's SPDM emulators (spdm_responder_emu, spdm_requester_emu) and SPDM-Responder-Validator
// (spdm_device_validator_sample) for interoperability tests: built from a local snapshot by
// scripts/build-spdm-emu.sh, started on loopback, stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { eventually, freePort, REPO } from './daemon.ts';
import { stopProcess } from './stop-process.ts';
import { runTool, type ToolResult } from './run-tool.ts';

/** scripts/build-spdm-emu.sh's exit status when the DMTF sources are not on this machine. */
const SOURCES_ABSENT = 66;

/** The emulators' build directory, or why there is none. */
export type SpdmEmuBuild = { readonly bin: string } | { readonly absent: string };

/**
 * Runs scripts/build-spdm-emu.sh (a no-op when already built from the same sources). Absent
 * sources are reported, not thrown; a failed build throws with the script's own message.
 */
export async function prepareSpdmEmu(timeoutMs = 15 * 60_000): Promise<SpdmEmuBuild> {
  const r = await runTool('bash', [join(REPO, 'scripts/build-spdm-emu.sh')], { timeoutMs, cwd: REPO });
  if (r.code === SOURCES_ABSENT) return { absent: r.stderr.replace(/build-spdm-emu: /g, '').replace(/\s+/g, ' ').trim() };
  if (r.code !== 0) throw new Error(`scripts/build-spdm-emu.sh exited ${r.code}:\n${r.stderr}`);
  const bin = r.stdout.trim().split('\n').pop();
  if (!bin) throw new Error('scripts/build-spdm-emu.sh printed no build directory');
  return { bin };
}

/** Whether some socket listens on 127.0.0.1:port (read from /proc, so no connection is used up). */
function listensOnLoopback(port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const f = line.trim().split(/\s+/);
      return f[1] === local && f[3] === '0A';
    });
}

/** A running spdm_responder_emu. */
export interface EmuResponder {
  readonly port: number;
  readonly process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts spdm_responder_emu on 127.0.0.1 with `--trans TCP` and `args`, in its build directory
 * (it reads DMTF's sample keys relative to the working directory). It serves one connection and
 * exits, unless the requester says CONTINUE.
 */
export async function startEmuResponder(o: { bin: string; args: readonly string[] }): Promise<EmuResponder> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(join(o.bin, 'spdm_responder_emu'), ['--trans', 'TCP', '--ip', '127.0.0.1', '--port', String(port), ...o.args], {
      cwd: o.bin,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const up = await eventually(() => child.exitCode !== null || child.signalCode !== null || listensOnLoopback(port), 10_000, 20);
    if (up && child.exitCode === null && child.signalCode === null) {
      return { port, process: child, output: () => out, stop: () => stopProcess(child) };
    }
    await stopProcess(child);
    // Another process may have taken the port between freePort() and the bind: try another one.
    if (attempt === 3) throw new Error(`spdm_responder_emu did not listen on 127.0.0.1:${port}:\n${out}`);
  }
}

/** Runs spdm_requester_emu to completion against 127.0.0.1:port with `--trans TCP` and `args`. */
export function runEmuRequester(o: { bin: string; port: number; args: readonly string[]; timeoutMs?: number }): Promise<ToolResult> {
  return runTool(join(o.bin, 'spdm_requester_emu'), ['--trans', 'TCP', '--ip', '127.0.0.1', '--port', String(o.port), ...o.args], {
    cwd: o.bin,
    timeoutMs: o.timeoutMs ?? 60_000,
  });
}

/** A validator group's or the whole suite's assertion counts. */
export interface ValidatorCounts {
  readonly pass: number;
  readonly fail: number;
}

/** What spdm_device_validator_sample reported (its test.log): totals, per group, and the failed assertions. */
export interface ValidatorReport extends ValidatorCounts {
  /** By group name, e.g. `spdm_test_group_capabilities`. */
  readonly groups: ReadonlyMap<string, ValidatorCounts>;
  /** The `test assertion … - FAIL …` lines, each with the test message before it. */
  readonly failures: readonly string[];
  /** The whole log, for a failure message. */
  readonly log: string;
}

/** Reads the validator's test.log: the summary after the run, and every FAIL assertion in context. */
export function parseValidatorLog(log: string): ValidatorReport {
  const total = /^test suite \(spdm_responder_conformance_test\) - pass: (\d+), fail: (\d+)$/m.exec(log);
  if (!total) throw new Error(`spdm_device_validator_sample wrote no suite summary:\n${log.slice(-4000)}`);
  const groups = new Map<string, ValidatorCounts>();
  const summary = log.slice(total.index);
  for (const m of summary.matchAll(/^test group \d+ \((\w+)\) - pass: (\d+), fail: (\d+)$/gm)) {
    groups.set(m[1] ?? '', { pass: Number(m[2]), fail: Number(m[3]) });
  }
  const failures: string[] = [];
  let message = '';
  for (const line of log.slice(0, total.index).split('\n')) {
    if (line.includes('test msg:')) message = line.trim();
    else if (/test assertion \S+ - FAIL/.test(line)) failures.push(`${line.trim()}${message ? ` (${message})` : ''}`);
  }
  return { pass: Number(total[1]), fail: Number(total[2]), groups, failures, log };
}

/**
 * Runs DMTF's SPDM-Responder-Validator (spdm_device_validator_sample, TCP transport from
 * scripts/spdm-validator-tcp.patch) to completion against 127.0.0.1:port, in a directory of its
 * own (it writes test.log into its working directory), and returns what it reported. It exits 0
 * whatever the verdict: the report is the verdict.
 */
export async function runValidator(o: { bin: string; port: number; timeoutMs?: number }): Promise<{ run: ToolResult; report: ValidatorReport }> {
  const cwd = mkdtempSync(join(tmpdir(), 'spdm-validator-'));
  try {
    const run = await runTool(join(o.bin, 'spdm_device_validator_sample'), ['--trans', 'TCP', '--ip', '127.0.0.1', '--port', String(o.port)], {
      cwd,
      timeoutMs: o.timeoutMs ?? 300_000,
    });
    let log: string;
    try {
      log = readFileSync(join(cwd, 'test.log'), 'utf8');
    } catch {
      throw new Error(`spdm_device_validator_sample wrote no test.log (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
    }
    return { run, report: parseValidatorLog(log) };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** One spdm-emu socket frame as the relay saw it; SPDM fields when it carried an SPDM message. */
export interface EmuFrame {
  readonly from: 'requester' | 'responder';
  /** spdm-emu socket command: 0x0001 NORMAL, 0xDEAD TEST, 0xFFFE SHUTDOWN, 0xFFFD CONTINUE. */
  readonly command: number;
  /** SPDM RequestResponseCode, e.g. 0x83 CHALLENGE, 0x03 CHALLENGE_AUTH, 0x7F ERROR. */
  readonly code?: number;
  readonly param1?: number;
  readonly param2?: number;
  /** The whole SPDM message. */
  readonly message?: Buffer;
}

/** A loopback TCP relay that records the spdm-emu frames passing through it. */
export interface EmuRelay {
  readonly port: number;
  frames(): EmuFrame[];
  close(): Promise<void>;
}

/** Splits whole spdm-emu frames (12-byte header, DSP0287 frame inside) off the front of `buf`. */
function takeFrames(buf: Buffer, from: EmuFrame['from']): { frames: Array<{ frame: EmuFrame; bytes: Buffer }>; rest: Buffer } {
  const frames: Array<{ frame: EmuFrame; bytes: Buffer }> = [];
  let rest = buf;
  while (rest.length >= 12 && rest.length >= 12 + rest.readUInt32BE(8)) {
    const size = rest.readUInt32BE(8);
    const bytes = Buffer.from(rest.subarray(0, 12 + size));
    const command = bytes.readUInt32BE(0);
    // DSP0287: u16 length, u8 binding version, u8 message type, then the SPDM message.
    const spdm = command === 0x0001 && size >= 8 ? bytes.subarray(16) : undefined;
    const frame: EmuFrame = spdm ? { from, command, code: spdm[1], param1: spdm[2], param2: spdm[3], message: Buffer.from(spdm) } : { from, command };
    frames.push({ frame, bytes });
    rest = rest.subarray(12 + size);
  }
  return { frames, rest };
}

/** What the relay does besides recording. */
export interface EmuRelayOptions {
  /** Flip the last byte (a signature's) of every responder message with this SPDM code, e.g. 0x03. */
  readonly corruptResponse?: number;
}

/**
 * Starts a relay on a free loopback port that forwards each connection to 127.0.0.1:targetPort
 * frame by frame, recording what passes (and tampering with it when asked).
 */
export async function startEmuRelay(targetPort: number, opts: EmuRelayOptions = {}): Promise<EmuRelay> {
  const seen: EmuFrame[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    let fromRequester: Buffer = Buffer.alloc(0);
    let fromResponder: Buffer = Buffer.alloc(0);
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined); // either side may reset; the test judges by what it saw
    }
    downstream.on('data', (d: Buffer) => {
      const { frames, rest } = takeFrames(Buffer.concat([fromRequester, d]), 'requester');
      fromRequester = rest;
      for (const f of frames) {
        seen.push(f.frame);
        upstream.write(f.bytes);
      }
    });
    upstream.on('data', (d: Buffer) => {
      const { frames, rest } = takeFrames(Buffer.concat([fromResponder, d]), 'responder');
      fromResponder = rest;
      for (const f of frames) {
        seen.push(f.frame);
        if (f.frame.code !== undefined && f.frame.code === opts.corruptResponse) {
          const last = f.bytes.length - 1;
          f.bytes[last] = (f.bytes[last] ?? 0) ^ 0x01;
        }
        downstream.write(f.bytes);
      }
    });
    downstream.on('end', () => upstream.end());
    upstream.on('end', () => downstream.end());
    downstream.on('close', () => upstream.destroy());
    upstream.on('close', () => downstream.destroy());
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    frames: () => [...seen],
    close: () => {
      for (const s of sockets) s.destroy();
      return withTimeout(new Promise<void>((res) => server.close(() => res())), 15_000, 'closing the spdm-emu relay');
    },
  };
}
