import { jsonConfigFile, type LoadedJsonConfig } from '../config/json-config-loader.ts';
import { attestationConfigSchema, attestationKnownKeys, type AttestationConfig } from './config-schema.ts';

/** Where attestationd looks for its configuration when `--conf` is not given. */
export const DEFAULT_ATTESTATION_CONF_PATH = '/var/provisioning/attestation.conf';

/** attestationd's configuration plus the notes to log once (same rules as provisioningd's). */
export type LoadedAttestationConfig = LoadedJsonConfig<AttestationConfig>;

const attestationConf = jsonConfigFile({
  schema: attestationConfigSchema,
  defaultPath: DEFAULT_ATTESTATION_CONF_PATH,
  topKeys: attestationKnownKeys.top,
  nested: [
    { key: 'identity_token', kind: 'object', keys: attestationKnownKeys.identity_token },
    { key: 'measurements', kind: 'array', keys: attestationKnownKeys.measurements },
  ],
});

/** Parses attestationd config text; throws ConfigError with one line naming the file and the field. */
export const parseAttestationConfig: (text: string, path: string) => LoadedAttestationConfig = attestationConf.parse;

/** Reads attestationd's config; a missing file means defaults, anything else wrong is a ConfigError. */
export const loadAttestationConfig: (path?: string) => LoadedAttestationConfig = attestationConf.load;
