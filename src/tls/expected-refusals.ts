import type { Logger } from '../log.ts';

/** Peers remembered at most; beyond that the memory starts over (one more info line each, no growth). */
const MAX_PEERS = 1024;

/**
 * Refusals that are expected while a rack builds its mesh: the other side does not trust this BMC
 * yet (it has not attested us). Logged at info, once per peer until a link to it comes up, so a
 * healthy build leaves no warnings; later ones go to debug.
 */
export interface ExpectedRefusals {
  /** Logs the line at info the first time for `peer` (since its last link), at debug after that. */
  note(peer: string, message: string, fields: Record<string, unknown>): void;
  /** A link with `peer` came up: its next refusal is news again. */
  clear(peer: string): void;
}

/** One memory of noted peers, shared by every link of a daemon (outbound or inbound). */
export function expectedRefusals(log: Logger): ExpectedRefusals {
  const noted = new Set<string>();
  return {
    note(peer, message, fields) {
      if (noted.has(peer)) {
        log.debug(message, fields);
        return;
      }
      if (noted.size >= MAX_PEERS) noted.clear();
      noted.add(peer);
      log.info(`${message} (expected until it has attested this BMC; logged once per peer)`, fields);
    },
    clear(peer) {
      noted.delete(peer);
    },
  };
}
