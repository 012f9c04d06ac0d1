import { DEFAULT_CONF_PATH, EX_CONFIG, loadConfig } from './config/load-config.ts';
import { startDaemon } from './daemon.ts';
// Imported from their own files, not the room's index.ts: index.ts also re-exports the X.509
// builder, which the issuer loads only on its first issuance (start-up time and memory).
import { createCertificateIssuer } from './pki/certificate/certificate-issuer.ts';
import { CredentialHolder } from './pki/certificate/tls-credentials.ts';
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
