import { listenAddress, logLevel, seconds, tcpPort, text, tokenSchema, whole } from '../config/schema.ts';
import { DEFAULT_SPDM_MAX_CONNECTIONS } from '../spdm/index.ts';
import * as z from '../util/zod.ts';
import { PROVISIONING_CA_INDEX } from './names.ts';
import { uniqueMeasurementIndexes } from './unique-indexes.ts';

/** One measured file: its measurement index and what kind of measurement it is. */
export const measuredFileSchema = z.object({
  index: z.int().check(z.minimum(1), z.maximum(PROVISIONING_CA_INDEX - 1, `must be 1 to ${PROVISIONING_CA_INDEX - 1} (${PROVISIONING_CA_INDEX} carries the provisioning CA)`)),
  file: text(),
  kind: z._default(z.enum(['firmware', 'configuration']), 'firmware'),
});

/** The identity key on a PKCS#11 token: the `token` keys of provisioningd, with its own key label. */
export const identityTokenSchema = z.extend(tokenSchema, {
  key_label: z._default(text(64), 'attestation-identity'),
});

/**
 * Every attestationd configuration key with its default; docs/attestation.md lists each one.
 * Field names are the JSON keys users write.
 */
export const attestationConfigSchema = z
  .object({
    interface_id: z._default(text(15), 'eth1'),
    spdm_address: z.optional(listenAddress),
    spdm_port: z._default(tcpPort, 2323),
    cert_root: z._default(text(), '/'),
    state_dir: z._default(text(), '/var/lib/attestation'),
    identity_token: z.optional(identityTokenSchema),
    identity_chain: z._default(text(), '/etc/attestation/identity-chain.pem'),
    roots: z._default(text(), '/etc/attestation/roots.pem'),
    identity_name: z._default(z.enum(['match', 'any']), 'match'),
    reference_manifest: z._default(text(), '/etc/attestation/reference-manifest.json'),
    measurements: z._default(z.array(measuredFileSchema).check(z.maxLength(64)), [
      { index: 1, file: '/usr/lib/provisioningd/provisioningd.js', kind: 'firmware' },
      { index: 2, file: '/var/provisioning/provisioning.conf', kind: 'configuration' },
    ]),
    attest_timeout: z._default(seconds(0.1, 600), 20),
    request_timeout: z._default(seconds(0.05, 600), 10),
    token_timeout: z._default(seconds(0.1, 600), 30),
    max_devices: z._default(whole(1, 4096), 256),
    max_connections: z._default(whole(1, 1024), DEFAULT_SPDM_MAX_CONNECTIONS),
    log_level: logLevel,
  })
  .check(uniqueMeasurementIndexes('used twice'));

/** attestationd's validated configuration. */
export type AttestationConfig = z.infer<typeof attestationConfigSchema>;
/** One entry of `measurements`. */
export type MeasuredFile = AttestationConfig['measurements'][number];
/** The `identity_token` key. */
export type IdentityTokenConfig = NonNullable<AttestationConfig['identity_token']>;

/** Keys the schema knows, so unknown ones are reported rather than ignored. */
export const attestationKnownKeys = {
  top: new Set(Object.keys(attestationConfigSchema.shape)),
  identity_token: new Set(Object.keys(identityTokenSchema.shape)),
  measurements: new Set(Object.keys(measuredFileSchema.shape)),
} as const;
