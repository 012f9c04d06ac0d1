/** The package's three units, as the container tests check them. */
export const PROVISIONING_UNIT = 'xyz.openbmc_project.Provisioning.service';
export const ATTESTATION_UNIT = 'xyz.openbmc_project.attestation.service';
export const BRIDGE_UNIT = 'lldp-bridge.service';

/** Each unit, the bus name it owns, the identifier its journal lines carry, and its D-Bus policy file as installed under /usr/share/dbus-1/system.d. */
export const PACKAGE_UNITS = [
  { unit: PROVISIONING_UNIT, bus: 'xyz.openbmc_project.Provisioning', identifier: 'provisioningd', policy: 'xyz.openbmc_project.Provisioning.conf' },
  { unit: ATTESTATION_UNIT, bus: 'xyz.openbmc_project.attestation', identifier: 'attestationd', policy: 'xyz.openbmc_project.attestation.conf' },
  { unit: BRIDGE_UNIT, bus: 'xyz.openbmc_project.LLDP', identifier: 'lldp-bridge', policy: 'xyz.openbmc_project.LLDP.conf' },
] as const;
