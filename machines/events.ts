/**
 * The events that cross the boundary between the pure statecharts and src/: the actors the
 * machines invoke send theirs back with `sendBack`, the D-Bus service sends ProvisionPeer calls;
 * the machines react, and tell their actors what they decided.
 */

/** Sent by the tlsClient actor (one per outbound link). */
export type LinkEvent =
  /** `peerLeaf`: SHA-256 fingerprint of the leaf the peer presented (a different one re-attests it). */
  | { type: 'LINK_UP'; peerLeaf?: string }
  /** An established link died: keep-alive timeout, peer closed, socket error. Retried. */
  | { type: 'LINK_DOWN'; reason: string }
  /** Could not connect (refused, unreachable, timeout). Retried with backoff. */
  | { type: 'LINK_FAILED'; reason: string }
  /** TLS verification or identity check failed: we refused what answered. Retried with backoff, and at once when trust or credentials change. */
  | { type: 'LINK_REJECTED'; reason: string };

/** Sent by the tlsResponder actor (the server side, one for the whole BMC). */
export type ResponderEvent =
  | { type: 'INBOUND_UP'; peer: string; connectionId: string }
  | { type: 'INBOUND_DOWN'; peer: string; connectionId: string; reason: string }
  /**
   * An inbound link from `name` came up with a client leaf (SHA-256 fingerprint, lowercase hex)
   * other than the last one this responder saw from that name (or the first): the root machine
   * forwards it to the peer machine, which re-attests when it differs from the leaf it noted.
   */
  | { type: 'INBOUND_PEER_LEAF'; name: string; fingerprint: string }
  /**
   * An inbound connection ended before its link came up: its TLS handshake failed or was refused
   * (no or an untrusted client certificate), its certificate was refused after the handshake, or it
   * closed before Hello. `peer` is the client's address, or its name once its certificate gave one.
   * No machine acts on it: the metrics count it (provisioning_handshakes_total, inbound, failed).
   */
  | { type: 'INBOUND_FAILED'; peer: string; reason: string }
  | { type: 'RESPONDER_FAILED'; reason: string };

/** Sent by the lldpNeighbors actor: a neighbour to dial (new, or at a new address), or one gone. */
export type DiscoveryEvent =
  | { type: 'LLDP_NEIGHBOR'; name: string; address: string; port: number }
  | { type: 'LLDP_GONE'; name: string };

/**
 * Sent by the trustStoreWatch actor after every change of the trust store: what it now vouches
 * for (`attestedNames`, `anyNameTrusted`) and what the change concerned (`changedNames`, or a CA
 * placed by hand: `placedByHand`). The root machine turns it into ATTESTED_NAMES and TRUST_UPDATED.
 */
export type TrustStoreChangedEvent = {
  type: 'TRUST_STORE_CHANGED';
  attestedNames: readonly string[];
  anyNameTrusted: boolean;
  changedNames: readonly string[];
  placedByHand: boolean;
};

/** Sent by the responderAttestations actor: a requester at `address` (plain IPv4 or IPv6) has just attested this BMC. */
export type ResponderAttestedEvent = { type: 'RESPONDER_ATTESTED'; address: string };

/** Sent by the root machine back to the responderAttestations actor: whom it attests back (maybe nobody), for the log. */
export type AttestingBackEvent = { type: 'ATTESTING_BACK'; address: string; names: readonly string[] };

/**
 * Raised by the root machine on TRUST_STORE_CHANGED: the peer names an attested CA in it is bound to.
 * A peer's `attested` follows it, so trust from an earlier run counts and a deleted CA is forgotten.
 * `anyName`: a CA placed by hand (one that vouches for any name) is trusted.
 */
export type AttestedNamesEvent = { type: 'ATTESTED_NAMES'; names: readonly string[]; anyName?: boolean };

/**
 * Sent by the clockWatch actor (src/clock/): the wall clock became implausible (before this build,
 * before this BMC's CA) or plausible again, or it jumped against the monotonic clock (an NTP step,
 * `date -s`). No certificate is issued while the clock is implausible; a jump re-issues the leaves.
 */
export type ClockEvent =
  | { type: 'CLOCK_IMPLAUSIBLE'; reason: string }
  | { type: 'CLOCK_PLAUSIBLE' }
  | { type: 'CLOCK_JUMPED'; byMs: number };

/**
 * TRUST_UPDATED is raised by the root machine when the trust store changes (TRUST_STORE_CHANGED); CREDENTIALS_UPDATED is raised by the
 * root machine once it has issued new certificates. The root machine forwards both to
 * the tlsResponder actor while it runs (which reloads its TLS context) and to every peer machine (which dials
 * again if its link is in progress or refused); the tlsClient actor never receives them.
 * TRUST_UPDATED's `peers`: the names the change concerns (a CA bound to them came, went or changed),
 * and only those peer machines are told; absent when it concerns every peer (a CA placed by hand
 * vouches for any name).
 */
export type CredentialsEvent = { type: 'CREDENTIALS_UPDATED' } | { type: 'TRUST_UPDATED'; peers?: readonly string[] };

/** Input of the tlsClient actor: whom to reach, and the name its certificate must carry. */
export interface LinkTarget {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

/** Input of the attestPeer actor. */
export interface AttestationTarget {
  readonly name: string;
  readonly address?: string;
  readonly port?: number;
}

/** Why issuing certificates was asked for. */
export type IssueReason = 'provision' | 'boot' | 'renew';

/** Input of the issueCertificates actor. */
export interface IssueRequest {
  readonly reason: IssueReason;
}

/** Output of the issueCertificates actor: facts about what was issued, never key material. */
export interface IssueSummary {
  /** SHA-256 fingerprint of the CA certificate, hex. */
  readonly caFingerprint: string;
  /** Leaf notAfter, epoch milliseconds. */
  readonly leafNotAfter: number;
  /** Leaf notBefore, epoch milliseconds. */
  readonly leafNotBefore: number;
  /**
   * The leaf's nominal lifetime (leaf_lifetime): renewal is planned from it, not from the
   * certificate's validity, which the clock-skew allowance widens on both sides.
   */
  readonly leafLifetimeMs: number;
  readonly generation: number;
}
