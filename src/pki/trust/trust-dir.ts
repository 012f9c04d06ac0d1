import { join } from 'node:path';

/** The configuration keys that place the trust store: `trust_dir`, or `trust` under `state_dir`. */
export interface TrustDirConfig {
  readonly state_dir: string;
  readonly trust_dir?: string | undefined;
}

/** The directory of provisioningd's own trust store: `trust_dir`, by default `<state_dir>/trust`. */
export function trustDirOf(config: TrustDirConfig): string {
  return config.trust_dir ?? join(config.state_dir, 'trust');
}

/**
 * `<cert_root>etc/ssl/certs/authority/`: where versions before the private trust store wrote the
 * attested peer CAs. On OpenBMC it is bmcweb's trust store for Redfish clients, not ours; it is
 * only read to move our own files out of it (legacy-trust-migration.ts).
 */
export function legacyAuthorityDirOf(certRoot: string): string {
  return join(certRoot, 'etc/ssl/certs/authority');
}
