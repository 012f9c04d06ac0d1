// What a 1.2 GET_CAPABILITIES may announce (DSP0274 1.2, GET_CAPABILITIES request flags and
// sizes): flags that depend on one another, and the transfer sizes. A request that breaks one of
// these rules is answered ERROR InvalidRequest, as DSP0274 asks and libspdm does.
import { CapFlag } from './constants.ts';
import { SpdmError } from './spdm-error.ts';
import type { Capabilities } from './vca-messages.ts';

/** PSK_CAP of a requester: 0 none, 1 supported; 2 and 3 are reserved. */
const PSK_SUPPORTED = 0x400;

/** Why a requester's flags contradict each other, or undefined when they are a legal combination. */
export function requesterFlagsProblem(flags: number): string | undefined {
  const has = (f: number) => (flags & f) !== 0;
  const psk = flags & CapFlag.PSK;
  if (psk !== 0 && psk !== PSK_SUPPORTED) return 'PSK_CAP holds a reserved value';
  const sessions = has(CapFlag.KEY_EX) || psk !== 0;
  if (sessions && !has(CapFlag.ENCRYPT) && !has(CapFlag.MAC)) return 'KEY_EX_CAP or PSK_CAP without ENCRYPT_CAP or MAC_CAP';
  if (!sessions && (has(CapFlag.ENCRYPT) || has(CapFlag.MAC) || has(CapFlag.HANDSHAKE_IN_THE_CLEAR) || has(CapFlag.HBEAT) || has(CapFlag.KEY_UPD))) {
    return 'ENCRYPT, MAC, HANDSHAKE_IN_THE_CLEAR, HBEAT or KEY_UPD_CAP without KEY_EX_CAP or PSK_CAP';
  }
  if (!has(CapFlag.KEY_EX) && psk !== 0 && has(CapFlag.HANDSHAKE_IN_THE_CLEAR)) return 'HANDSHAKE_IN_THE_CLEAR_CAP with PSK_CAP but without KEY_EX_CAP';
  const keys = has(CapFlag.CERT) || has(CapFlag.PUB_KEY_ID);
  if (has(CapFlag.CERT) && has(CapFlag.PUB_KEY_ID)) return 'CERT_CAP and PUB_KEY_ID_CAP together';
  if (keys && !has(CapFlag.CHAL) && !has(CapFlag.KEY_EX)) return 'CERT_CAP or PUB_KEY_ID_CAP without CHAL_CAP or KEY_EX_CAP';
  // With these two, MUT_AUTH_CAP also has CHAL_CAP or KEY_EX_CAP beside it, as it must.
  if (!keys && (has(CapFlag.CHAL) || has(CapFlag.MUT_AUTH))) return 'CHAL_CAP or MUT_AUTH_CAP without CERT_CAP or PUB_KEY_ID_CAP';
  return undefined;
}

/**
 * Checks a parsed 1.2 GET_CAPABILITIES beyond its layout: legal flag combinations, and a
 * DataTransferSize equal to MaxSPDMmsgSize unless the requester can chunk (CHUNK_CAP).
 * Throws SpdmError MALFORMED naming the rule broken.
 */
export function checkRequesterCapabilities(c: Capabilities): void {
  const problem = requesterFlagsProblem(c.flags);
  if (problem) throw new SpdmError('MALFORMED', `GET_CAPABILITIES: ${problem} (flags 0x${c.flags.toString(16)})`);
  if ((c.flags & CapFlag.CHUNK) === 0 && c.dataTransferSize !== c.maxSpdmMsgSize) {
    throw new SpdmError('MALFORMED', `GET_CAPABILITIES: DataTransferSize ${c.dataTransferSize} differs from MaxSPDMmsgSize ${c.maxSpdmMsgSize} without CHUNK_CAP`);
  }
}
