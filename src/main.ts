import { DEFAULT_CONF_PATH, EX_CONFIG, loadConfig } from './config/load-config.ts';
import { startDaemon } from './daemon.ts';
import { createCertificateIssuer, CredentialHolder } from './pki/certificate/index.ts';
import { runServiceMain } from './service-main.ts';
import { type LoadedState, StateFileError, StateStore } from './state/state-store.ts';
import { errorMessage } from './util/error-message.ts';

const USAGE = `usage: provisioningd [--conf FILE]
  --conf FILE   configuration (JSON); default ${DEFAULT_CONF_PATH}; a missing file means defaults`;

runServiceMain({
  program: 'provisioningd',
  usage: USAGE,
  defaultConfPath: DEFAULT_CONF_PATH,
  loadConfig,
  async prepare({ config, confPath, log, fail }) {
    // The state file first: one that exists but cannot be used stops the start before anything is opened.
    const stateStore = new StateStore(config.state_dir);
    let loaded: LoadedState;
    try {
      loaded = stateStore.load();
    } catch (err) {
      if (err instanceof StateFileError) return fail(`${err.code}: ${err.message}`, EX_CONFIG);
      throw err;
    }
    if (loaded.problem) log.warn(loaded.problem, { code: 'STATE_FILE_CORRUPT' });
    const credentials = new CredentialHolder();
    let issuer: ReturnType<typeof createCertificateIssuer>;
    try {
      issuer = createCertificateIssuer({ config, credentials, log });
    } catch (err) {
      // The token configuration is unusable before anything started (e.g. a PIN file others can read).
      return fail(`${confPath}: ${errorMessage(err)}`, EX_CONFIG);
    }
    return {
      start: () => startDaemon({ config, log, credentials, issuer, state: { store: stateStore, loaded: loaded.state } }),
      closeOnFailure: () => issuer.close(),
    };
  },
});
