import { isIP } from 'node:net';
import { DEFAULT_CONF_PATH, EX_CONFIG, loadConfig } from './config/load-config.ts';
import { startDaemon } from './daemon.ts';
import { BusNameTakenError } from './dbus/bus-name-claim.ts';
import { createCertificateIssuer, CredentialHolder } from './pki/certificate/index.ts';
import { EX_UNAVAILABLE, runServiceMain, StartRefusal } from './service-main.ts';
import { StateFileError, StateStore } from './state/state-store.ts';
import { errorMessage } from './util/error-message.ts';

const USAGE = `usage: provisioningd [--conf FILE]
  --conf FILE   configuration (JSON); default ${DEFAULT_CONF_PATH}; a missing file means defaults`;

runServiceMain({
  program: 'provisioningd',
  usage: USAGE,
  defaultConfPath: DEFAULT_CONF_PATH,
  loadConfig,
  async prepare({ config, confPath, log, fail }) {
    // The state file first, read only: one that exists but cannot be read stops the start before
    // anything is opened, the bus name included. It is loaded (a corrupt one moved aside) only once
    // the name is owned: a second instance changes nothing on disk (src/daemon.ts).
    const stateStore = new StateStore(config.state_dir);
    try {
      stateStore.check();
    } catch (err) {
      if (err instanceof StateFileError) return fail(`${err.code}: ${err.message}`, EX_CONFIG);
      throw err;
    }
    // A host name is a valid address to dial, but SPDM attestation reaches a peer by IP address
    // only: such a peer is trusted only through a CA an operator placed in trust_dir.
    for (const peer of config.peers) {
      if (isIP(peer.address) !== 0) continue;
      log.warn(
        `${confPath}: peer ${peer.name} has the host name "${peer.address}" as its address: it can be dialled, but never attested (attestation needs an IP address); only a CA placed in trust_dir by hand makes it trusted`,
        { code: 'PEER_NOT_ATTESTABLE', peer: peer.name },
      );
    }
    const credentials = new CredentialHolder();
    let issuer: ReturnType<typeof createCertificateIssuer>;
    try {
      issuer = createCertificateIssuer({ config, credentials, log });
    } catch (err) {
      // The token configuration is unusable before anything started (e.g. a PIN file others can read).
      return fail(`${confPath}: ${errorMessage(err)}`, EX_CONFIG);
    }
    return {
      async start() {
        try {
          return await startDaemon({ config, log, credentials, issuer, stateStore });
        } catch (err) {
          if (err instanceof StateFileError) throw new StartRefusal(`${err.code}: ${err.message}`, EX_CONFIG);
          if (err instanceof BusNameTakenError) {
            throw new StartRefusal(`cannot start: ${err.message}: another provisioningd runs; this one changed nothing on disk`, EX_UNAVAILABLE);
          }
          throw err;
        }
      },
      closeOnFailure: () => issuer.close(),
    };
  },
});
