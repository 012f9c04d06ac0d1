/**
 * Prints the default configuration files that `pnpm package` installs under
 * /usr/share/provisioningd/ (every key at its default, from the schemas themselves, so they cannot
 * drift from docs/configuration.md): `{ "provisioning.conf": "…", "attestation.conf": "…" }`.
 * `name` is left out: its default is the host name, read at start.
 */
import { attestationConfigSchema } from '../src/attestationd/config-schema.ts';
import { configSchema } from '../src/config/schema.ts';

const { name: _hostName, ...provisioning } = configSchema.parse({ name: 'placeholder' });
const attestation = attestationConfigSchema.parse({});
const file = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
process.stdout.write(JSON.stringify({ 'provisioning.conf': file(provisioning), 'attestation.conf': file(attestation) }));
