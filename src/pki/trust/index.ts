/**
 * The trust room: the peer CAs this BMC trusts (`trust_dir`, by default `<state_dir>/trust/`), hand-placed (unbound)
 * or installed after attestation (bound to the attested peer name). Import from here, not from the
 * files inside.
 */
export { TrustStore, type BindingReservation, type TrustChange, type TrustedCa, type TrustStoreOptions } from './trust-store.ts';
export { TrustStoreError, type TrustStoreErrorCode } from './trust-store-error.ts';
export { MAX_CA_PEM_BYTES, parseCaPem, certificateFingerprint, type ParsedCa } from './ca-certificate-pem.ts';
export { boundNamesOf, type NameScope } from './name-binding.ts';
export { trustDirOf, legacyAuthorityDirOf, type TrustDirConfig } from './trust-dir.ts';
export { TRUST_FILE_TIMEOUT_MS } from './file-call.ts';
export { migrateLegacyTrustStore, type LegacyTrustMigration, type LegacyTrustMigrationResult } from './legacy-trust-migration.ts';
