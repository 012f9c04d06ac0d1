/** The id that makes ProvisionPeer provision this BMC itself. */
export const SELF_ID = 'self';

/** What a ProvisionPeer argument asks for, decided before anything is sent to the machine. */
export type DeviceIdCheck =
  | { kind: 'self' }
  | { kind: 'peer'; id: string }
  | { kind: 'invalid'; reason: string };

/**
 * A peer id names a BMC (its certificate DNS name, its LLDP SystemName) and the attestation
 * object path `/…/devices/tcp/<id>`, so it must be a host name that is also a valid path element.
 */
const PEER_ID = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}))*$/;

export function checkDeviceId(raw: string): DeviceIdCheck {
  if (raw === SELF_ID) return { kind: 'self' };
  if (raw.length === 0) return { kind: 'invalid', reason: 'deviceId is empty' };
  if (raw.length > 253) return { kind: 'invalid', reason: 'deviceId is longer than 253 characters' };
  if (!PEER_ID.test(raw)) {
    return { kind: 'invalid', reason: 'deviceId must be a host name: letters, digits, "-", "_" and "."' };
  }
  return { kind: 'peer', id: raw };
}
