import { parseArgs } from 'node:util';
import { ConfigError, DEFAULT_CONF_PATH, EX_CONFIG, loadConfig, type LoadedConfig } from './config/load-config.ts';
import { startDaemon } from './daemon.ts';
import { createLogger } from './log.ts';
import { createCertificateIssuer, CredentialHolder } from './pki/certificate/index.ts';

/** sysexits.h codes, so that systemd and operators can tell failures apart (docs/operations.md). */
const EX_USAGE = 64;
const EX_UNAVAILABLE = 69;
const EX_SOFTWARE = 70;

const USAGE = `usage: provisioningd [--conf FILE]
  --conf FILE   configuration (JSON); default ${DEFAULT_CONF_PATH}; a missing file means defaults`;

function fail(message: string, status: number): never {
  process.stderr.write(`provisioningd: ${message}\n`);
  process.exit(status);
}

function parseCommandLine(): string {
  try {
    const { values } = parseArgs({
      options: { conf: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    return values.conf ?? DEFAULT_CONF_PATH;
  } catch (err) {
    return fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`, EX_USAGE);
  }
}

async function main(): Promise<void> {
  const confPath = parseCommandLine();
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(confPath);
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, EX_CONFIG);
    throw err;
  }
  const { config } = loaded;
  const log = createLogger({ level: config.log_level });
  if (loaded.usedDefaults) log.info(`${confPath}: no such file, running on defaults`);
  for (const w of loaded.warnings) log.warn(w, { code: 'CONFIG_UNKNOWN_KEY' });

  const credentials = new CredentialHolder();
  let issuer: ReturnType<typeof createCertificateIssuer>;
  try {
    issuer = createCertificateIssuer({ config, credentials, log });
  } catch (err) {
    // The token configuration is unusable before anything started (e.g. a PIN file others can read).
    return fail(`${confPath}: ${err instanceof Error ? err.message : String(err)}`, EX_CONFIG);
  }

  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon({ config, log, credentials, issuer });
  } catch (err) {
    log.error(`cannot start: ${err instanceof Error ? err.message : String(err)}`, { code: 'START_FAILED' });
    await issuer.close().catch(() => undefined);
    return fail(`cannot start: ${err instanceof Error ? err.message : String(err)}`, EX_UNAVAILABLE);
  }

  let stopping = false;
  const shutdown = async (why: string, status: number) => {
    if (stopping) return;
    stopping = true;
    log.info(`stopping: ${why}`);
    const hard = setTimeout(() => {
      process.stderr.write('provisioningd: clean shutdown took longer than 10 s, exiting\n');
      process.exit(status || EX_SOFTWARE);
    }, 10_000);
    hard.unref();
    await daemon.stop().catch((err: unknown) => log.error(`during shutdown: ${String(err)}`));
    // The logger stays open: sockets still closing may log a last line before the exit.
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
  process.stderr.write(`provisioningd: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(EX_SOFTWARE);
});
