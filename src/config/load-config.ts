import { jsonConfigFile, type LoadedJsonConfig } from './json-config-loader.ts';
import { configSchema, knownKeys, type Config } from './schema.ts';

export { ConfigError } from './json-config-loader.ts';

/** Exit status for a configuration error (sysexits.h EX_CONFIG). */
export const EX_CONFIG = 78;

export const DEFAULT_CONF_PATH = '/var/provisioning/provisioning.conf';

/** What loading produced: the config plus the notes the caller should log once. */
export type LoadedConfig = LoadedJsonConfig<Config>;

const provisioningConf = jsonConfigFile({
  schema: configSchema,
  defaultPath: DEFAULT_CONF_PATH,
  topKeys: knownKeys.top,
  nested: [
    { key: 'token', kind: 'object', keys: knownKeys.token },
    { key: 'peers', kind: 'array', keys: knownKeys.peer },
  ],
});

/** Parses config text; throws ConfigError with a one-line message naming the file and field. */
export const parseConfig: (text: string, path: string) => LoadedConfig = provisioningConf.parse;

/** Reads the config file; a missing file means defaults, anything else wrong is a ConfigError. */
export const loadConfig: (path?: string) => LoadedConfig = provisioningConf.load;
