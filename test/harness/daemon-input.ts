import type { ProvisioningInput } from '../../machines/provisioning.machine.ts';

/** A daemon machine input with the configuration defaults (in ms), owning its bus name from the start; tests override what they need. */
export function daemonInput(overrides: Partial<ProvisioningInput> = {}): ProvisioningInput {
  return {
    provisioned: false,
    staticPeers: [],
    retry: { baseMs: 1000, capMs: 30_000, fastRetries: 3 },
    attestationTimeoutMs: 60_000,
    issueRetryMs: 30_000,
    listenRetryMs: 10_000,
    attestedNames: [],
    maxRequestedPeers: 64,
    forgetFailedMs: 600_000,
    maxDepartedPeers: 256,
    clockPlausible: true,
    ownsBusName: true,
    ...overrides,
  };
}
