import { createPublicKey } from 'node:crypto';
import { EX_CONFIG } from '../config/load-config.ts';
import { checkTokenAtStart } from '../pki/token/index.ts';
import { EX_UNAVAILABLE, runServiceMain } from '../service-main.ts';
import { attest, startSpdmResponder } from '../spdm/index.ts';
import { startAttestationd } from './attestationd.ts';
import { IdentityError, loadDeviceIdentity, openIdentityToken, type DeviceIdentity } from './device-identity.ts';
import { DEFAULT_ATTESTATION_CONF_PATH, loadAttestationConfig } from './load-config.ts';
import { loadReferenceManifest } from './reference-manifest.ts';
import { errorMessage } from '../util/error-message.ts';

const CREATE_KEY = 'create-identity-key';

const USAGE = `usage: attestationd [--conf FILE] [--create-identity-key]
  --conf FILE              configuration (JSON); default ${DEFAULT_ATTESTATION_CONF_PATH}; a missing file means defaults
  --create-identity-key    create the identity key on the configured token if it is missing,
                           print its public key (PEM) on stdout for certification, and exit`;

runServiceMain({
  program: 'attestationd',
  usage: USAGE,
  defaultConfPath: DEFAULT_ATTESTATION_CONF_PATH,
  flags: [CREATE_KEY],
  loadConfig: loadAttestationConfig,
  async prepare({ config, confPath, log, flags, fail }) {
    // The PIN file, the module and the addon need the operator: refuse them (78) before the token is
    // opened, rather than fail the login (69) and be restarted by systemd again and again.
    if (config.identity_token) {
      try {
        checkTokenAtStart(config.identity_token);
      } catch (err) {
        return fail(`${confPath}: ${errorMessage(err)}`, EX_CONFIG);
      }
    }
    if (flags.has(CREATE_KEY)) {
      const token = openIdentityToken(config, log);
      try {
        const { spki, created } = await token.caPublicKey({ create: true });
        process.stdout.write(createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString());
        log.info(`${created ? 'created' : 'found'} the identity key on ${token.description}`);
      } catch (err) {
        return fail(`identity key on ${token.description}: ${errorMessage(err)}`, EX_UNAVAILABLE);
      } finally {
        await token.close().catch(() => undefined);
      }
      return undefined;
    }

    let identity: DeviceIdentity;
    try {
      identity = await loadDeviceIdentity(config, log);
    } catch (err) {
      if (err instanceof IdentityError) {
        // A missing key or a wrong chain needs the operator; a token that failed, or a disk that did
        // not answer, may come back.
        const mayPass = err.code === 'IDENTITY_TOKEN' || err.code === 'IDENTITY_CHAIN_TIMEOUT';
        return fail(`${confPath}: ${err.code}: ${err.message}`, mayPass ? EX_UNAVAILABLE : EX_CONFIG);
      }
      throw err;
    }
    await loadReferenceManifest(config.reference_manifest).catch((err: unknown) =>
      log.warn(`${errorMessage(err)}: every attestation of a peer fails until it is fixed`, {
        code: 'MANIFEST_INVALID',
      }),
    );
    return {
      start: () => startAttestationd({ config, log, identity, spdm: { attest, startSpdmResponder } }),
      closeOnFailure: () => identity.close(),
    };
  },
});
