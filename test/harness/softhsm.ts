import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenConfig } from '../../src/config/schema.ts';
import { mustRun } from './run-tool.ts';

/** Where Debian installs SoftHSM2's PKCS#11 module. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** A PKCS#11 token made for a test: the `token` config to use, the env the module needs, and cleanup. */
export interface TestToken {
  /** What goes under the config's `token` key. */
  readonly token: TokenConfig;
  /** Environment the process that loads the module must have (set before the module is initialised). */
  readonly env: Record<string, string>;
  /** The user PIN (tests only: e.g. for pkcs11-tool). */
  readonly pin: string;
  /** Temp directory holding the token's files; removed by stop(). */
  readonly dir: string;
  stop(): Promise<void>;
}

/** Options for a test token: its label, PINs and CA key label. */
export interface TestTokenOptions {
  readonly label?: string;
  readonly pin?: string;
  readonly keyLabel?: string;
}

/** The `token` config of a test token whose files live in `dir`: writes its user PIN to a 0600 pin file there. */
export function testTokenConfig(req: {
  readonly dir: string;
  readonly module: string;
  readonly label: string;
  readonly pin: string;
  readonly keyLabel?: string;
}): TokenConfig {
  const pinFile = join(req.dir, 'user.pin');
  writeFileSync(pinFile, `${req.pin}\n`, { mode: 0o600 });
  return { module: req.module, label: req.label, pin_file: pinFile, key_label: req.keyLabel ?? 'provisioningd-ca' };
}

/**
 * Makes a fresh SoftHSM2 token in a temp directory with its own SOFTHSM2_CONF.
 * SoftHSM reads SOFTHSM2_CONF at C_Initialize: put `env` into process.env (or a child's env) first.
 */
export async function startSoftHsmToken(opts: TestTokenOptions = {}): Promise<TestToken> {
  const dir = mkdtempSync(join(tmpdir(), 'softhsm-'));
  const tokens = join(dir, 'tokens');
  await mustRun('mkdir', ['-p', '-m', '0700', tokens]);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: conf };
  const label = opts.label ?? 'provisioning';
  const pin = opts.pin ?? '4711-test';
  await mustRun('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', `${pin}-so`], { env });
  return {
    token: testTokenConfig({ dir, module: SOFTHSM_MODULE, label, pin, keyLabel: opts.keyLabel }),
    env,
    pin,
    dir,
    stop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}
