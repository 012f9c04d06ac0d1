import type { ProvisioningInput } from '../machines/provisioning.machine.ts';
import { BUILD_TIME_MS } from './clock/build-time.ts';
import { watchClock, type ClockWatch } from './clock/clock-watch.ts';
import type { Config } from './config/schema.ts';
import type { Logger } from './log.ts';
import { caStartReader, certPaths } from './pki/certificate/index.ts';
import { legacyAuthorityDirOf, migrateLegacyTrustStore, TrustStore, trustDirOf } from './pki/trust/index.ts';
import type { PersistedState, StateStore } from './state/state-store.ts';
import { withTimeout } from './util/with-timeout.ts';
import { errorMessage } from './util/error-message.ts';

const seconds = (s: number) => Math.round(s * 1000);

/** The daemon machine's input: the persisted flag and attestation records, the configuration in milliseconds, what the trust store and the clock say at start. */
export function daemonMachineInput(o: { config: Config; loaded: PersistedState; trustStore: TrustStore; clock: ClockWatch }): ProvisioningInput {
  const { config, trustStore, clock } = o;
  const clockProblem = clock.problem();
  return {
    provisioned: o.loaded.provisioned,
    ...(o.loaded.peers ? { attestationHistory: o.loaded.peers } : {}),
    staticPeers: config.peers,
    retry: { baseMs: seconds(config.retry_base), capMs: seconds(config.retry_timer), fastRetries: config.retry_count },
    attestationTimeoutMs: seconds(config.attestation_timeout),
    maxRequestedPeers: config.max_requested_peers,
    forgetFailedMs: seconds(config.failed_peer_lifetime),
    maxDepartedPeers: config.lldp_max_neighbors,
    // The hidden caps of retry_timer (configuration.md).
    issueRetryMs: Math.min(seconds(config.retry_timer), 60_000),
    listenRetryMs: Math.min(seconds(config.retry_timer), 10_000),
    attestedNames: trustStore.attestedNames(),
    anyNameTrusted: trustStore.vouchesForAnyName(),
    clockPlausible: clockProblem === undefined,
    ...(clockProblem ? { clockProblem } : {}),
  };
}

/** What the daemon machine starts from, and the stores and the clock watch its effects keep using. */
export interface PreparedInput {
  readonly input: ProvisioningInput;
  readonly stateStore: StateStore;
  readonly trustStore: TrustStore;
  readonly clock: ClockWatch;
}

/**
 * Reads what the machine's input says: the state file (moving a corrupt one aside), the trust store
 * (moving our attested CAs out of bmcweb's store first, after an upgrade, and revoking again what
 * the state file records as revoked), and the clock's first verdict; later changes come from the
 * machine's actors (trustStoreWatch, clockWatch). Each of these steps may change files in state_dir,
 * trust_dir or under cert_root: it runs only once this process owns the bus name, the lock that
 * says no other instance runs (startDaemon claims it first). Throws a StateFileError when the state
 * file cannot be used.
 */
export async function prepareDaemonInput(o: { config: Config; log: Logger; timeoutMs: number; stateStore: StateStore }): Promise<PreparedInput> {
  const { config, log } = o;
  const loaded = o.stateStore.load();
  if (loaded.problem) log.warn(loaded.problem, { code: 'STATE_FILE_CORRUPT' });

  const trustDir = trustDirOf(config);
  // If the move cannot finish (e.g. a read-only directory), what was copied is trusted from
  // trustDir already and the next start tries again.
  await withTimeout(
    migrateLegacyTrustStore({ from: legacyAuthorityDirOf(config.cert_root), to: trustDir, log }),
    o.timeoutMs,
    'moving attested CAs out of the old trust store',
  ).catch((err: unknown) =>
    log.error(`trust store: cannot move the attested CAs out of ${legacyAuthorityDirOf(config.cert_root)}: ${errorMessage(err)}`, {
      code: 'TRUST_STORE_MIGRATION',
    }),
  );
  const trustStore = new TrustStore({ dir: trustDir, log });
  await withTimeout(trustStore.reload(), o.timeoutMs, 'reading the trust store');
  await reassertRevocations({ trustStore, loaded: loaded.state, log, timeoutMs: o.timeoutMs });

  const clock = watchClock({ buildTimeMs: BUILD_TIME_MS, caNotBeforeMs: caStartReader(certPaths(config.cert_root).selfCa), log });
  return { input: daemonMachineInput({ config, loaded: loaded.state, trustStore, clock }), stateStore: o.stateStore, trustStore, clock };
}

/**
 * A peer the state file records as revoked loses any attested binding still on disk: its removal may
 * have failed before the restart (the store refused the name in memory only), or a ProvisionPeer
 * bound it again just before a crash that kept its verdict from the state file. Either way it is
 * refused until a ProvisionPeer attests it again: when in doubt, the trust model wins. A file that
 * cannot be changed is logged by the store, which keeps the name refused for this run.
 */
async function reassertRevocations(o: { trustStore: TrustStore; loaded: PersistedState; log: Logger; timeoutMs: number }): Promise<void> {
  for (const [name, record] of Object.entries(o.loaded.peers ?? {})) {
    if (record.verdict !== 'revoked') continue;
    // A file the store could not change it logs itself (CA_REVOKE_FILE_FAILED); a timeout is said here.
    await withTimeout(o.trustStore.revokeName(name), o.timeoutMs, `revoking ${name} again at start`).catch((err: unknown) =>
      o.log.warn(`trust store: ${name} stays refused for this run, its binding may still be on disk: ${errorMessage(err)}`, { peer: name }),
    );
  }
}
