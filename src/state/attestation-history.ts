import type { PeerView } from '../../machines/peer-projection.ts';
import type { AttestationHistory } from '../../machines/reattestation.ts';
import type { PersistedPeerAttestation } from './state-store.ts';

/** Per peer name, its last attestation as persisted. */
export type AttestationRecords = Readonly<Record<string, PersistedPeerAttestation>>;

/**
 * The attestation records to persist: those of an earlier run, updated with what this run's views
 * say (a peer attested or revoked now replaces its old record; peers not seen this run keep theirs).
 */
export function attestationRecords(previous: AttestationHistory, views: readonly PeerView[]): AttestationRecords {
  const out: Record<string, PersistedPeerAttestation> = {};
  for (const [name, record] of Object.entries(previous)) if (record) out[name] = record;
  for (const v of views) {
    if (!v.lastVerdict) continue;
    const lastAttestedMs = v.lastAttested > 0 ? Math.floor(v.lastAttested / 1000) : out[v.name]?.lastAttestedMs;
    out[v.name] = { ...(lastAttestedMs !== undefined ? { lastAttestedMs } : {}), verdict: v.lastVerdict };
  }
  return out;
}
