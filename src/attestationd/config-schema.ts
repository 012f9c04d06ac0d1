import * as z from 'zod';
import { listenAddress, tokenSchema } from '../config/schema.ts';
import { DEFAULT_SPDM_MAX_CONNECTIONS } from '../spdm/index.ts';
import { PROVISIONING_CA_INDEX } from './names.ts';

const seconds = (min: number, max: number) => z.number().min(min).max(max);
const tcpPort = z.number().int().min(1).max(65535);

/** One measured file: its measurement index and what kind of measurement it is. */
export const measuredFileSchema = z.object({
  index: z.number().int().min(1).max(PROVISIONING_CA_INDEX - 1, `must be 1 to ${PROVISIONING_CA_INDEX - 1} (${PROVISIONING_CA_INDEX} carries the provisioning CA)`),
  file: z.string().min(1),
  kind: z.enum(['firmware', 'configuration']).default('firmware'),
});

/** The identity key on a PKCS#11 token: the `token` keys of provisioningd, with its own key label. */
export const identityTokenSchema = tokenSchema.extend({
  key_label: z.string().min(1).max(64).default('attestation-identity'),
});

/**
 * Every attestationd configuration key with its default; docs/attestation.md lists each one.
 * Field names are the JSON keys users write.
 */
export const attestationConfigSchema = z
  .object({
    interface_id: z.string().min(1).max(15).default('eth1'),
    spdm_address: listenAddress.optional(),
    spdm_port: tcpPort.default(2323),
    cert_root: z.string().min(1).default('/'),
    state_dir: z.string().min(1).default('/var/lib/attestation'),
    identity_token: identityTokenSchema.optional(),
    identity_chain: z.string().min(1).default('/etc/attestation/identity-chain.pem'),
    roots: z.string().min(1).default('/etc/attestation/roots.pem'),
    identity_name: z.enum(['match', 'any']).default('match'),
    reference_manifest: z.string().min(1).default('/etc/attestation/reference-manifest.json'),
    measurements: z
      .array(measuredFileSchema)
      .max(64)
      .default([
        { index: 1, file: '/usr/lib/provisioningd/provisioningd.js', kind: 'firmware' },
        { index: 2, file: '/var/provisioning/provisioning.conf', kind: 'configuration' },
      ]),
    attest_timeout: seconds(0.1, 600).default(20),
    request_timeout: seconds(0.05, 600).default(10),
    token_timeout: seconds(0.1, 600).default(30),
    max_devices: z.number().int().min(1).max(4096).default(256),
    max_connections: z.number().int().min(1).max(1024).default(DEFAULT_SPDM_MAX_CONNECTIONS),
    log_level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<number>();
    c.measurements.forEach((m, i) => {
      if (seen.has(m.index)) ctx.addIssue({ code: 'custom', path: ['measurements', i, 'index'], message: `index ${m.index} is used twice` });
      seen.add(m.index);
    });
  });

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
