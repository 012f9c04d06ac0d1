import type { RetryPolicy } from './backoff.ts';
import type {
  AttestedNamesEvent,
  ClockEvent,
  CredentialsEvent,
  DiscoveryEvent,
  ResponderAttestedEvent,
  ResponderEvent,
  TrustStoreChangedEvent,
} from './events.ts';
import type { Failure } from './failure.ts';
import type { PeerRevocationEvent } from './peer.machine.ts';
import type { AttestationHistory } from './reattestation.ts';

/** A peer known before discovery: from the `peers` configuration key. */
export interface KnownPeer {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

/** What the daemon starts from: the persisted flag and config-derived timings (milliseconds). */
export interface ProvisioningInput {
  /** The persisted `provisioned` flag, read from state_dir at start. */
  readonly provisioned: boolean;
  readonly staticPeers: readonly KnownPeer[];
  readonly retry: RetryPolicy;
  readonly attestationTimeoutMs: number;
  /** Delay before retrying a failed boot-time restore or a failed renewal. */
  readonly issueRetryMs: number;
  /** Delay before the responder tries to listen again after failing to. */
  readonly listenRetryMs: number;
  /** The peer names an attested CA in the trust store is bound to (updated by ATTESTED_NAMES). */
  readonly attestedNames: readonly string[];
  /** Most peers that exist only through ProvisionPeer (`max_requested_peers`); a new name beyond it is refused. */
  readonly maxRequestedPeers: number;
  /** How long a peer that is only a failed ProvisionPeer is kept before it is forgotten (`failed_peer_lifetime`). */
  readonly forgetFailedMs: number;
  /** Most departed LLDP neighbours without trust still shown (`lldp_max_neighbors`); the oldest go first. */
  readonly maxDepartedPeers: number;
  /** The wall clock is plausible (checked at start; then CLOCK_IMPLAUSIBLE / CLOCK_PLAUSIBLE). */
  readonly clockPlausible: boolean;
  /** Why the clock is implausible, when it is. */
  readonly clockProblem?: string;
  /**
   * Each peer's last attestation from an earlier run (the state file): shown until this run has its
   * own, and persisted again. Revocations and reinstatements of this run are written into it
   * (PEER_REVOKED, PEER_REINSTATED), so that they are persisted whatever becomes of the peer's machine.
   */
  readonly attestationHistory?: AttestationHistory;
  /** A CA placed by hand, which vouches for any name, is trusted (updated by ATTESTED_NAMES). */
  readonly anyNameTrusted?: boolean;
  /**
   * The bus name, the daemon's lock, is served from the start: true for a machine run without the
   * daemon around it (tests, tools). The daemon owns the name before the machine starts, starts it
   * without this, and its busName actor says BUS_NAME_OWNED once it serves the name.
   */
  readonly ownsBusName?: boolean;
}

/** From the busName actor: the daemon serves D-Bus on the connection that owns its bus name (its lock). */
export type BusNameEvent = { type: 'BUS_NAME_OWNED' };

/** The daemon's state beyond its state value; pure data, safe to show in the inspector. */
export interface ProvisioningContext extends ProvisioningInput {
  readonly selfError?: Failure;
  readonly responderError?: Failure;
  readonly caFingerprint?: string;
  readonly leafNotBefore?: number;
  readonly leafNotAfter?: number;
  /** The current leaf's nominal lifetime (leaf_lifetime), which renewal is planned from. */
  readonly leafLifetimeMs?: number;
  /** D-Bus calls of ProvisionPeer("self") waiting for the issuance in flight. */
  readonly pendingSelfRequests: readonly string[];
  /** Names of the spawned peer machines (children with id `peer:<name>`). */
  readonly peerNames: readonly string[];
  /** Open inbound links per peer name, by connection id. */
  readonly inbound: Readonly<Record<string, readonly string[]>>;
  /** The LLDP neighbours now present, by name: dialled like static peers once this BMC is provisioned. */
  readonly discovered: Readonly<Record<string, KnownPeer>>;
  /** Discovered peers whose neighbour left: no longer dialled, still shown (NotConnected) until they are back. */
  readonly departed: readonly string[];
  /**
   * Peers whose trust a re-attestation revoked (in this run: PEER_REVOKED; or in an earlier one: the
   * state file, whose bindings the start revoked again) and that no ProvisionPeer has attested since
   * (PEER_REINSTATED). Their machines are never stopped (an LLDP neighbour leaving or moving keeps
   * them), and a new machine of such a name starts refused.
   */
  readonly revoked: readonly string[];
  /**
   * `provisioned = true` may be published on D-Bus: it was read from the state file, or its write
   * (persistProvisioned) has settled, so that a crash never takes back what clients were told.
   */
  readonly provisionedPublishable: boolean;
  /** This daemon owns its bus name: until it does, nothing touches the token, the network or the state file. */
  readonly ownsBusName: boolean;
}

/** Events the daemon accepts: from D-Bus, from the actors it invokes (responder, discovery, trust store, clock, attestationd's responder). */
export type ProvisioningEvent =
  | { type: 'PROVISION_SELF'; requestId: string }
  | { type: 'PROVISION_PEER'; id: string }
  | ResponderEvent
  | DiscoveryEvent
  | CredentialsEvent
  | AttestedNamesEvent
  | TrustStoreChangedEvent
  | ResponderAttestedEvent
  | ClockEvent
  | BusNameEvent
  | PeerRevocationEvent;

/** Emitted when a ProvisionPeer("self") call can be answered. */
export type SelfProvisionResult =
  | { type: 'selfProvisionResult'; requestIds: readonly string[]; ok: true }
  | { type: 'selfProvisionResult'; requestIds: readonly string[]; ok: false; failure: Failure };
