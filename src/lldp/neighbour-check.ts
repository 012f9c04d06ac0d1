import { checkDeviceId } from '../../machines/device-id.ts';
import { quoteForLog } from '../log-escape.ts';

/** A neighbour as LLDP announced it, once its values were checked: a peer to dial. */
export interface LldpNeighbour {
  /** Its SystemName: the name its certificate must carry. */
  readonly name: string;
  /** Its IPv4 management address. */
  readonly address: string;
}

/** The outcome of checking one LLDP object's values. */
export type NeighbourCheck =
  | { readonly ok: true; readonly neighbour: LldpNeighbour }
  | { readonly ok: false; readonly reason: string };

const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Why an IPv4 management address cannot be dialled, or undefined when it can. Unspecified,
 * loopback, multicast and broadcast addresses are refused: a neighbour must not be able to make
 * this BMC dial itself or a group.
 */
export function addressProblem(address: string): string | undefined {
  if (!DOTTED_QUAD.test(address)) return 'is not an IPv4 address in dotted-quad form';
  const [a = 0] = address.split('.').map(Number);
  if (a === 0) return 'is in 0.0.0.0/8 (unspecified)';
  if (a === 127) return 'is a loopback address';
  if (a >= 224 && a <= 239) return 'is a multicast address';
  if (a >= 240) return 'is a reserved or broadcast address';
  return undefined;
}

/** What the check needs besides the values: our own name, which no neighbour may claim. */
export interface NeighbourCheckContext {
  readonly ownName: string;
}

/**
 * Checks the two values a neighbour object carries. A missing, empty, non-string or malformed
 * SystemName or address, or a neighbour claiming our own name, is refused with a reason that
 * quotes the value safely.
 */
export function checkNeighbour(raw: { name: unknown; address: unknown }, ctx: NeighbourCheckContext): NeighbourCheck {
  if (raw.name === undefined) return { ok: false, reason: 'no SystemName' };
  if (typeof raw.name !== 'string') return { ok: false, reason: `SystemName is not a string (${typeof raw.name})` };
  if (raw.name.length === 0) return { ok: false, reason: 'SystemName is empty' };
  const id = checkDeviceId(raw.name, { ownName: ctx.ownName });
  if (id.kind === 'self') return { ok: false, reason: `SystemName ${quoteForLog(raw.name)} is the reserved id "self"` };
  if (id.kind === 'own') return { ok: false, reason: `SystemName ${quoteForLog(raw.name)} is our own name` };
  if (id.kind === 'invalid') return { ok: false, reason: `SystemName ${quoteForLog(raw.name)} refused: ${id.reason.replace(/^deviceId/, 'it')}` };
  if (raw.address === undefined) return { ok: false, reason: `${raw.name}: no management address` };
  if (typeof raw.address !== 'string') return { ok: false, reason: `${raw.name}: management address is not a string` };
  if (raw.address.length === 0) return { ok: false, reason: `${raw.name}: management address is empty` };
  const problem = addressProblem(raw.address);
  if (problem) return { ok: false, reason: `${raw.name}: management address ${quoteForLog(raw.address)} ${problem}` };
  return { ok: true, neighbour: { name: raw.name, address: raw.address } };
}
