/** The id that makes ProvisionPeer provision this BMC itself. */
export const SELF_ID = 'self';

/** What a ProvisionPeer argument asks for, decided before anything is sent to the machine. */
export type DeviceIdCheck =
  | { kind: 'self' }
  | { kind: 'peer'; id: string }
  /** This BMC's own name (in any case): never a peer. */
  | { kind: 'own' }
  | { kind: 'invalid'; reason: string };

/** What the check needs besides the id: this BMC's own name, when it is known. */
export interface DeviceIdContext {
  readonly ownName?: string;
}

/**
 * A peer id names a BMC (its certificate DNS name, its LLDP SystemName) and the attestation
 * object path `/…/devices/tcp/<id>`, so it must be a host name that is also a valid path element.
 */
const PEER_ID = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}))*$/;

/** The longest peer name: a host name's limit. */
const MAX_PEER_NAME = 253;

/**
 * Whether `name` has the form of a peer's name (a host name that is also a path element), the one
 * grammar for every place a peer name is accepted or stored: ProvisionPeer, LLDP, the trust store's
 * name bindings. Says nothing of `self` or this BMC's own name (checkDeviceId does).
 */
export const isPeerName = (name: string): boolean => name.length > 0 && name.length <= MAX_PEER_NAME && PEER_ID.test(name);

/**
 * Host names compare without regard to case: `SELF` and `Self` are no peers (only `self` in lower
 * case provisions this BMC), and no case variant of this BMC's own name is a peer either.
 */
export function checkDeviceId(raw: string, ctx: DeviceIdContext = {}): DeviceIdCheck {
  if (raw === SELF_ID) return { kind: 'self' };
  if (raw.length === 0) return { kind: 'invalid', reason: 'deviceId is empty' };
  if (raw.length > MAX_PEER_NAME) return { kind: 'invalid', reason: `deviceId is longer than ${MAX_PEER_NAME} characters` };
  if (!isPeerName(raw)) {
    return { kind: 'invalid', reason: 'deviceId must be a host name: letters, digits, "-", "_" and "."' };
  }
  if (raw.toLowerCase() === SELF_ID) {
    return { kind: 'invalid', reason: `deviceId "${raw}" is reserved: only "self", in lower case, provisions this BMC` };
  }
  if (ctx.ownName !== undefined && raw.toLowerCase() === ctx.ownName.toLowerCase()) return { kind: 'own' };
  return { kind: 'peer', id: raw };
}
