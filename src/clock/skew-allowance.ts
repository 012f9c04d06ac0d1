/**
 * How far the clocks of two BMCs may disagree, either way, and still link and attest: 48 hours.
 * Every certificate this BMC issues is valid from 48 h before its issuer's "now" (the CA and the
 * leaves), a leaf until 48 h after its nominal end, and attestation accepts an identity chain
 * within 48 h of its validity. What this costs is in docs/security-model.md ("Clocks").
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 48 * 3_600_000;
