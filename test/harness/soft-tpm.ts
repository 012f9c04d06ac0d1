import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptsConnections, eventually } from './daemon.ts';
import { startPrivateBus } from './private-bus.ts';
import { stopProcess, waitForExit } from './stop-process.ts';
import { mustRun, runTool } from './run-tool.ts';
import { STARTUP_DEADLINE_MS } from './startup-deadline.ts';
import { claimPorts } from './test-ports.ts';
import { testTokenConfig, type TestToken, type TestTokenOptions } from './softhsm.ts';

/** Where Debian installs tpm2-pkcs11's module. */
export const TPM2_PKCS11_MODULE = '/usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1';

/** A tpm2-pkcs11 token on swtpm: a TestToken plus control over the software TPM itself. */
export interface SoftTpmToken extends TestToken {
  /** SIGKILLs swtpm (the "TPM gone mid-run" case); abrmd stays up and reports errors. */
  killTpm(): Promise<void>;
  /** SIGSTOPs swtpm: the TPM hangs (calls into it block) until resumeTpm(). */
  pauseTpm(): void;
  /** SIGCONTs swtpm after pauseTpm(). */
  resumeTpm(): void;
  /** Starts swtpm again on the same state and a fresh tpm2-abrmd, after killTpm(). */
  restartTpm(): Promise<void>;
  /** PIDs of what the harness runs, for diagnostics. */
  pids(): { swtpm?: number; abrmd?: number; bus?: number };
}

async function waitUntil(what: string, probe: () => Promise<boolean>): Promise<void> {
  if (!(await eventually(probe, STARTUP_DEADLINE_MS))) throw new Error(`timed out waiting for ${what}`);
}

/**
 * Starts swtpm on loopback, tpm2-abrmd on its own private session bus, raises the
 * dictionary-attack limits, and creates a tpm2-pkcs11 token with tpm2_ptool in a temp store.
 * stop() shuts the TPM down cleanly (tpm2_shutdown) and kills every process by PID.
 */
export async function startSoftTpmToken(opts: TestTokenOptions = {}): Promise<SoftTpmToken> {
  const dir = mkdtempSync(join(tmpdir(), 'softtpm-'));
  const state = join(dir, 'tpm-state');
  const store = join(dir, 'pkcs11-store');
  mkdirSync(state, { mode: 0o700 });
  mkdirSync(store, { mode: 0o700 });
  // swtpm's server port and, next to it, its control port.
  const port = await claimPorts(2);
  const bus = await startPrivateBus({ kind: 'session', dir, program: 'dbus-daemon' });
  const env: Record<string, string> = {
    DBUS_SESSION_BUS_ADDRESS: bus.address,
    TPM2_PKCS11_TCTI: 'tabrmd:bus_type=session',
    TPM2TOOLS_TCTI: 'tabrmd:bus_type=session',
    TPM2_PKCS11_STORE: store,
    TSS2_LOG: 'all+NONE',
  };
  let swtpm: ChildProcess | undefined;
  let abrmd: ChildProcess | undefined;

  const startSwtpm = async () => {
    const child = spawn(
      'swtpm',
      [
        'socket', '--tpm2', '--tpmstate', `dir=${state}`,
        '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--flags', 'not-need-init,startup-clear',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    swtpm = child;
    await waitUntil('swtpm to listen', async () => {
      if (child.exitCode !== null) throw new Error(`swtpm exited ${child.exitCode}`);
      // Connect, never bind: a probe holding the port for a moment could make swtpm's own bind fail.
      return (await acceptsConnections(port)) && (await acceptsConnections(port + 1));
    });
  };
  const startAbrmd = async () => {
    const child = spawn(
      'tpm2-abrmd',
      ['--session', '--allow-root', '--flush-all', `--tcti=swtpm:host=127.0.0.1,port=${port}`],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
    );
    abrmd = child;
    await waitUntil('tpm2-abrmd to answer', async () => {
      if (child.exitCode !== null) throw new Error(`tpm2-abrmd exited ${child.exitCode}`);
      const r = await runTool('tpm2_getcap', ['properties-fixed'], { env, timeoutMs: 5000 });
      return r.code === 0;
    });
  };
  const stopAll = async () => {
    if (swtpm && swtpm.exitCode === null && swtpm.signalCode === null && abrmd && abrmd.exitCode === null) {
      await runTool('tpm2_shutdown', [], { env, timeoutMs: 5000 }).catch(() => undefined);
    }
    if (abrmd) await stopProcess(abrmd);
    if (swtpm) await stopProcess(swtpm);
    await bus.stop();
  };

  try {
    await startSwtpm();
    await startAbrmd();
    await mustRun('tpm2_dictionarylockout', ['--clear-lockout'], { env });
    await mustRun('tpm2_dictionarylockout', [
      '--setup-parameters', '--max-tries=32', '--recovery-time=10', '--lockout-recovery-time=10',
    ], { env });
    const label = opts.label ?? 'provisioning';
    const pin = opts.pin ?? '4711-test';
    const init = await mustRun('tpm2_ptool', ['init', `--path=${store}`], { env, timeoutMs: 60_000 });
    const pid = /id:\s*(\d+)/.exec(init)?.[1] ?? '1';
    await mustRun('tpm2_ptool', [
      'addtoken', `--pid=${pid}`, `--label=${label}`, `--userpin=${pin}`, `--sopin=${pin}-so`, `--path=${store}`,
    ], { env, timeoutMs: 60_000 });
    return {
      token: testTokenConfig({ dir, module: TPM2_PKCS11_MODULE, label, pin, keyLabel: opts.keyLabel }),
      env,
      pin,
      dir,
      killTpm: async () => {
        if (swtpm && swtpm.exitCode === null && swtpm.signalCode === null) {
          swtpm.kill('SIGKILL');
          await waitForExit(swtpm, { timeoutMs: 30_000, after: 'SIGKILL' });
        }
      },
      pauseTpm: () => {
        swtpm?.kill('SIGSTOP');
      },
      resumeTpm: () => {
        swtpm?.kill('SIGCONT');
      },
      restartTpm: async () => {
        if (abrmd) await stopProcess(abrmd);
        await startSwtpm();
        await startAbrmd();
      },
      pids: () => ({ swtpm: swtpm?.pid, abrmd: abrmd?.pid, bus: bus.pid }),
      stop: async () => {
        await stopAll();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
