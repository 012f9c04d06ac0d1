import { DEFAULT_CONF_PATH, EX_CONFIG, loadConfig } from './config/load-config.ts';
import { startDaemon } from './daemon.ts';
import { createCertificateIssuer, CredentialHolder } from './pki/certificate/index.ts';
import { runServiceMain } from './service-main.ts';

const USAGE = `usage: provisioningd [--conf FILE]
  --conf FILE   configuration (JSON); default ${DEFAULT_CONF_PATH}; a missing file means defaults`;

runServiceMain({
  program: 'provisioningd',
  usage: USAGE,
  defaultConfPath: DEFAULT_CONF_PATH,
  loadConfig,
  async prepare({ config, confPath, log, fail }) {
    const credentials = new CredentialHolder();
    let issuer: ReturnType<typeof createCertificateIssuer>;
    try {
      issuer = createCertificateIssuer({ config, credentials, log });
    } catch (err) {
      // The token configuration is unusable before anything started (e.g. a PIN file others can read).
      return fail(`${confPath}: ${err instanceof Error ? err.message : String(err)}`, EX_CONFIG);
    }
    return {
      start: () => startDaemon({ config, log, credentials, issuer }),
      closeOnFailure: () => issuer.close(),
    };
  },
});
