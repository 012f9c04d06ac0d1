import type { Logger } from '../log.ts';

/** Peers remembered at most; beyond that the memory starts over (one more info line each, no growth). */
const MAX_PEERS = 1024;

/**
 * Whose attestation ends the refusals, so that the line tells the operator which way round it is:
 * the peer's of this BMC (it refused us) or this BMC's of the peer (we refused it).
 */
export type AwaitedAttestation = 'by-peer' | 'by-us';

/** What the line says after the refusal itself, per awaited attestation. */
const UNTIL: Record<AwaitedAttestation, string> = {
  'by-peer': 'expected until it has attested this BMC',
  'by-us': 'expected until this BMC has attested it',
};

/** One refusal to note: the peer, the line and its fields, and whose attestation ends it. */
export interface ExpectedRefusal {
  readonly peer: string;
  readonly message: string;
  /**
   * The line's fields. Its event and the awaited attestation make the kind of refusal (not
   * listening yet, we refused its certificate, it refused ours): each kind is news once per peer,
   * so a first failure of one kind does not hide the first of another.
   */
  readonly fields: Readonly<Record<string, unknown>> & { readonly event: string };
  readonly awaiting: AwaitedAttestation;
}

/**
 * Refusals that are expected while a rack builds its mesh: one side does not trust the other yet
 * (it has not attested it). Logged at info, once per peer and kind until a link to it comes up, so
 * a healthy build leaves no warnings; repeats go to debug.
 */
export interface ExpectedRefusals {
  /** Logs the line at info the first time for its peer and kind (since its last link), at debug after that. */
  note(refusal: ExpectedRefusal): void;
  /** A link with `peer` came up: its next refusal is news again. */
  clear(peer: string): void;
}

/** One memory of noted peers and kinds, shared by every link of a daemon (outbound or inbound). */
export function expectedRefusals(log: Logger): ExpectedRefusals {
  const noted = new Map<string, Set<string>>();
  return {
    note({ peer, message, fields, awaiting }) {
      const kinds = noted.get(peer);
      const key = `${awaiting} ${fields.event}`;
      if (kinds?.has(key)) {
        log.debug(message, fields);
        return;
      }
      if (kinds) kinds.add(key);
      else {
        if (noted.size >= MAX_PEERS) noted.clear();
        noted.set(peer, new Set([key]));
      }
      log.info(`${message} (${UNTIL[awaiting]}; repeats at debug)`, fields);
    },
    clear(peer) {
      noted.delete(peer);
    },
  };
}
