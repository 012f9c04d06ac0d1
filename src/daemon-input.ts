import type { ProvisioningInput } from '../machines/provisioning.machine.ts';
import type { ClockWatch } from './clock/clock-watch.ts';
import type { Config } from './config/schema.ts';
import type { TrustStore } from './pki/trust/index.ts';
import type { PersistedState } from './state/state-store.ts';

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
