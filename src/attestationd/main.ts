import { createPublicKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ConfigError, EX_CONFIG } from '../config/load-config.ts';
import { createLogger } from '../log.ts';
import { attest, startSpdmResponder } from '../spdm/index.ts';
import { startAttestationd } from './attestationd.ts';
import { IdentityError, loadDeviceIdentity, openIdentityToken, type DeviceIdentity } from './device-identity.ts';
import { DEFAULT_ATTESTATION_CONF_PATH, loadAttestationConfig, type LoadedAttestationConfig } from './load-config.ts';
import { loadReferenceManifest } from './reference-manifest.ts';

/** sysexits.h codes, as provisioningd uses them (docs/operations.md). */
const EX_USAGE = 64;
const EX_UNAVAILABLE = 69;
const EX_SOFTWARE = 70;

const USAGE = `usage: attestationd [--conf FILE] [--create-identity-key]
  --conf FILE              configuration (JSON); default ${DEFAULT_ATTESTATION_CONF_PATH}; a missing file means defaults
  --create-identity-key    create the identity key on the configured token if it is missing,
                           print its public key (PEM) on stdout for certification, and exit`;

function fail(message: string, status: number): never {
  process.stderr.write(`attestationd: ${message}\n`);
  process.exit(status);
}

function parseCommandLine(): { confPath: string; createKey: boolean } {
  try {
    const { values } = parseArgs({
      options: {
        conf: { type: 'string' },
        'create-identity-key': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    return { confPath: values.conf ?? DEFAULT_ATTESTATION_CONF_PATH, createKey: values['create-identity-key'] ?? false };
  } catch (err) {
    return fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`, EX_USAGE);
  }
}

async function main(): Promise<void> {
  const { confPath, createKey } = parseCommandLine();
  let loaded: LoadedAttestationConfig;
  try {
    loaded = loadAttestationConfig(confPath);
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, EX_CONFIG);
    throw err;
  }
  const { config } = loaded;
  const log = createLogger({ level: config.log_level });
  if (loaded.usedDefaults) log.info(`${confPath}: no such file, running on defaults`);
  for (const w of loaded.warnings) log.warn(w, { code: 'CONFIG_UNKNOWN_KEY' });

  if (createKey) {
    const token = openIdentityToken(config, log);
    try {
      const { spki, created } = await token.caPublicKey({ create: true });
      process.stdout.write(createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString());
      log.info(`${created ? 'created' : 'found'} the identity key on ${token.description}`);
    } catch (err) {
      return fail(`identity key on ${token.description}: ${err instanceof Error ? err.message : String(err)}`, EX_UNAVAILABLE);
    } finally {
      await token.close().catch(() => undefined);
    }
    return;
  }

  let identity: DeviceIdentity;
  try {
    identity = await loadDeviceIdentity(config, log);
  } catch (err) {
    if (err instanceof IdentityError) {
      // A missing key or a wrong chain needs the operator; a token that failed may come back.
      return fail(`${confPath}: ${err.code}: ${err.message}`, err.code === 'IDENTITY_TOKEN' ? EX_UNAVAILABLE : EX_CONFIG);
    }
    throw err;
  }
  await loadReferenceManifest(config.reference_manifest).catch((err: unknown) =>
    log.warn(`${err instanceof Error ? err.message : String(err)}: every attestation of a peer fails until it is fixed`, {
      code: 'MANIFEST_INVALID',
    }),
  );

  let daemon: Awaited<ReturnType<typeof startAttestationd>>;
  try {
    daemon = await startAttestationd({ config, log, identity, spdm: { attest, startSpdmResponder } });
  } catch (err) {
    log.error(`cannot start: ${err instanceof Error ? err.message : String(err)}`, { code: 'START_FAILED' });
    await identity.close().catch(() => undefined);
    return fail(`cannot start: ${err instanceof Error ? err.message : String(err)}`, EX_UNAVAILABLE);
  }

  let stopping = false;
  const shutdown = async (why: string, status: number) => {
    if (stopping) return;
    stopping = true;
    log.info(`stopping: ${why}`);
    const hard = setTimeout(() => {
      process.stderr.write('attestationd: clean shutdown took longer than 10 s, exiting\n');
      process.exit(status || EX_SOFTWARE);
    }, 10_000);
    hard.unref();
    await daemon.stop().catch((err: unknown) => log.error(`during shutdown: ${String(err)}`));
    process.exitCode = status;
    setImmediate(() => process.exit(status));
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.once('SIGINT', () => void shutdown('SIGINT', 0));
  void daemon.lost.then((why) => {
    log.error(`lost the system bus: ${why}; exiting so that systemd restarts the service`, { code: 'BUS_LOST' });
    void shutdown('bus lost', EX_UNAVAILABLE);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`attestationd: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(EX_SOFTWARE);
});
