import { assign } from 'xstate';
import type { IssueSummary } from './events.ts';
import { attestBackTargets } from './attest-back-targets.ts';
import { addDeparted } from './departed-peers.ts';
import { toFailure } from './failure.ts';
import type { PeerInput } from './peer.machine.ts';
import { provisioningSetup } from './provisioning.setup.ts';
import type { KnownPeer, ProvisioningContext, ProvisioningEvent } from './provisioning.types.ts';

const { assign: assignContext, emit, enqueueActions } = provisioningSetup;

/** The child id of a peer's machine. */
export const peerChildId = (name: string) => `peer:${name}`;

/** The error an invoked actor failed with: xstate delivers it as the `error` of its error event. */
const actorError = (event: { type: string }): unknown => ('error' in event ? event.error : undefined);

/** Queues the request id of a ProvisionPeer("self") call until the issuance in flight ends. */
const queueSelfRequest = assignContext({
  pendingSelfRequests: ({ context, event }) =>
    event.type === 'PROVISION_SELF' ? [...context.pendingSelfRequests, event.requestId] : context.pendingSelfRequests,
});

/** Records what an issuance produced (facts, no key material): this BMC is provisioned. */
const recordIssue = assign<ProvisioningContext, ProvisioningEvent, IssueSummary, ProvisioningEvent, never>((_, summary) => ({
  provisioned: true,
  selfError: undefined,
  caFingerprint: summary.caFingerprint,
  leafNotBefore: summary.leafNotBefore,
  leafNotAfter: summary.leafNotAfter,
  leafLifetimeMs: summary.leafLifetimeMs,
}));

/** Records why the invoked issuance (restore, provision or renewal) failed, as `selfError`. */
const recordIssueFailure = assignContext({
  selfError: ({ event }) => toFailure(actorError(event), 'ISSUE_FAILED'),
});

/** Emits one result for every queued ProvisionPeer("self") call, then empties the queue. */
const answerSelfRequests = enqueueActions(({ context, enqueue }) => {
  if (context.pendingSelfRequests.length === 0) return;
  enqueue(emit({ type: 'selfProvisionResult', requestIds: context.pendingSelfRequests, ok: true }));
  enqueue.assign({ pendingSelfRequests: [] });
});

/** Answers every queued ProvisionPeer("self") call with the recorded `selfError`, then empties the queue. */
const refuseSelfRequests = enqueueActions(({ context, enqueue }) => {
  if (context.pendingSelfRequests.length === 0) return;
  const failure = context.selfError ?? { code: 'ISSUE_FAILED', message: 'issuance failed' };
  enqueue(emit({ type: 'selfProvisionResult', requestIds: context.pendingSelfRequests, ok: false, failure }));
  enqueue.assign({ pendingSelfRequests: [] });
});

/** The clock watch says the wall clock is implausible: no certificate is issued until it is plausible. */
const recordClockImplausible = assignContext(({ event }) =>
  event.type === 'CLOCK_IMPLAUSIBLE' ? { clockPlausible: false, clockProblem: event.reason } : {},
);

/** The busName actor serves the owned bus name: the daemon may start what touches the world. */
const recordBusNameOwned = assignContext({ ownsBusName: true });

/** The effects that watch the world, spawned in this order once the bus name is owned (startWatching). */
export const WATCHES = ['clockWatch', 'trustStoreWatch', 'lldpDiscovery', 'responderAttestations', 'dbusProjection', 'persistAttestations'] as const;

/**
 * Once the bus name is owned: the effects that watch the world for as long as the daemon runs. They
 * are spawned (not invoked) because they start with the lock, not with the machine; stopping the
 * daemon actor stops them, after the observers and the busName actor (child order), and the
 * busName actor releases the name only once their closes have settled.
 */
const startWatching = enqueueActions(({ enqueue }) => {
  for (const src of WATCHES) enqueue.spawnChild(src, { id: src });
});

/** The clock watch says the wall clock is plausible again. */
const recordClockPlausible = assignContext({ clockPlausible: true, clockProblem: undefined });

/**
 * Answers every queued ProvisionPeer("self") call, and the one being made, with CLOCK_IMPLAUSIBLE:
 * no certificate is issued with a validity computed from an implausible clock.
 */
const refuseForClock = enqueueActions(({ context, event, enqueue }) => {
  const requestIds = [...context.pendingSelfRequests, ...(event.type === 'PROVISION_SELF' ? [event.requestId] : [])];
  if (requestIds.length === 0) return;
  const message = `the wall clock is implausible (${context.clockProblem ?? 'unknown'}): no certificate is issued until it is plausible`;
  enqueue(emit({ type: 'selfProvisionResult', requestIds, ok: false, failure: { code: 'CLOCK_IMPLAUSIBLE', message } }));
  enqueue.assign({ pendingSelfRequests: [] });
});

/**
 * A peer whose trust a re-attestation revoked (in this run, or in an earlier one) and that no
 * ProvisionPeer has attested since starts refused, as it was: only a ProvisionPeer brings it back.
 */
const revokedBefore = (context: ProvisioningContext, name: string): { revokedBefore?: true } =>
  context.revoked.includes(name) ? { revokedBefore: true } : {};

/**
 * A peer machine says its peer's trust was revoked: remembered for as long as the daemon runs, and
 * in the attestation history persisted (whatever becomes of its machine).
 */
const recordRevoked = assignContext(({ context, event }) => {
  if (event.type !== 'PEER_REVOKED') return {};
  return {
    revoked: context.revoked.includes(event.name) ? context.revoked : [...context.revoked, event.name],
    attestationHistory: { ...context.attestationHistory, [event.name]: { ...context.attestationHistory?.[event.name], verdict: 'revoked' as const } },
  };
});

/** A peer machine says a ProvisionPeer attested its revoked peer: no longer refused, and persisted as passed. */
const recordReinstated = assignContext(({ context, event }) => {
  if (event.type !== 'PEER_REINSTATED') return {};
  const lastAttestedMs = event.atMs ?? context.attestationHistory?.[event.name]?.lastAttestedMs;
  return {
    revoked: context.revoked.filter((n) => n !== event.name),
    attestationHistory: { ...context.attestationHistory, [event.name]: { ...(lastAttestedMs !== undefined ? { lastAttestedMs } : {}), verdict: 'passed' as const } },
  };
});

/** Spawns a machine for each configured peer not yet known: their trust was placed by the operator. */
const spawnStaticPeers = enqueueActions(({ context, enqueue }) => {
  const added: string[] = [];
  for (const p of context.staticPeers) {
    if (context.peerNames.includes(p.name) || added.includes(p.name)) continue;
    const input: PeerInput = {
      ...p,
      trustedOutOfBand: true,
      attested: context.attestedNames.includes(p.name),
      anyNameTrusted: context.anyNameTrusted ?? false,
      retry: context.retry,
      attestationTimeoutMs: context.attestationTimeoutMs,
      forgetFailedMs: context.forgetFailedMs,
      ...revokedBefore(context, p.name),
    };
    enqueue.spawnChild('peer', { id: peerChildId(p.name), input });
    added.push(p.name);
  }
  if (added.length) enqueue.assign({ peerNames: [...context.peerNames, ...added] });
});

/** The input of a peer machine for a discovered neighbour: dialled like a static peer (TLS decides trust). */
const discoveredPeerInput = (context: ProvisioningContext, peer: KnownPeer): PeerInput => ({
  ...peer,
  trustedOutOfBand: true,
  attested: context.attestedNames.includes(peer.name),
  anyNameTrusted: context.anyNameTrusted ?? false,
  retry: context.retry,
  attestationTimeoutMs: context.attestationTimeoutMs,
  forgetFailedMs: context.forgetFailedMs,
  ...revokedBefore(context, peer.name),
});

/** Spawns a machine for each LLDP neighbour not yet known (at Provisioned entry: discovery may come first). */
const spawnDiscoveredPeers = enqueueActions(({ context, enqueue }) => {
  const added: string[] = [];
  for (const p of Object.values(context.discovered)) {
    if (context.peerNames.includes(p.name) || added.includes(p.name)) continue;
    enqueue.spawnChild('peer', { id: peerChildId(p.name), input: discoveredPeerInput(context, p) });
    added.push(p.name);
  }
  if (added.length) enqueue.assign({ peerNames: [...context.peerNames, ...added] });
});

/** Notes an LLDP neighbour (new, or at a new address); one that had left is back. */
const recordNeighbour = assignContext({
  discovered: ({ context, event }) =>
    event.type === 'LLDP_NEIGHBOR'
      ? { ...context.discovered, [event.name]: { name: event.name, address: event.address, port: event.port } }
      : context.discovered,
  departed: ({ context, event }) => (event.type === 'LLDP_NEIGHBOR' ? context.departed.filter((n) => n !== event.name) : context.departed),
});

/**
 * Dials an LLDP neighbour (this BMC is provisioned): a new peer machine, or a fresh one when the
 * neighbour moved to another address. A static peer of the same name keeps its configured address.
 * A peer announced again where it was is told so (PEER_ANNOUNCED): a link waiting to retry dials at once.
 * A revoked peer's machine is kept, back or moved, and told its address (PEER_MOVED): it stays refused.
 */
const dialNeighbour = enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'LLDP_NEIGHBOR') return;
  const peer: KnownPeer = { name: event.name, address: event.address, port: event.port };
  const id = peerChildId(peer.name);
  const announced = () => enqueue.sendTo(id, { type: 'PEER_ANNOUNCED' });
  if (context.staticPeers.some((p) => p.name === peer.name)) {
    if (context.peerNames.includes(peer.name)) announced();
    return;
  }
  if (context.peerNames.includes(peer.name) && context.revoked.includes(peer.name)) {
    enqueue.sendTo(id, { type: 'PEER_MOVED', address: peer.address, port: peer.port });
    return;
  }
  if (context.peerNames.includes(peer.name)) {
    // Runs before recordNeighbour: `discovered` still holds the address the machine was spawned with.
    const was = context.discovered[peer.name];
    if (was?.address === peer.address && was.port === peer.port) {
      announced();
      return;
    }
    enqueue.stopChild(id);
    enqueue.spawnChild('peer', { id, input: discoveredPeerInput(context, peer) });
    return;
  }
  enqueue.spawnChild('peer', { id, input: discoveredPeerInput(context, peer) });
  enqueue.assign({ peerNames: [...context.peerNames, peer.name] });
});

/**
 * An LLDP neighbour left: it is no longer dialled (its machine stops), unless it is a static peer.
 * Its trust is kept: nothing here touches the trust store, so it is dialled again when it is back.
 * At most `maxDepartedPeers` departed ones without trust are remembered (the oldest go first).
 * A revoked peer's machine is kept (it is not dialled anyway): its revocation, shown and persisted
 * from it, must outlive the neighbour leaving and coming back.
 */
const forgetNeighbour = enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'LLDP_GONE') return;
  const { [event.name]: _gone, ...rest } = context.discovered;
  enqueue.assign({ discovered: rest });
  if (context.staticPeers.some((p) => p.name === event.name) || !context.peerNames.includes(event.name)) return;
  if (context.revoked.includes(event.name)) return;
  enqueue.stopChild(peerChildId(event.name));
  enqueue.assign({
    peerNames: context.peerNames.filter((n) => n !== event.name),
    departed: addDeparted({ departed: context.departed, name: event.name, attestedNames: context.attestedNames, max: context.maxDepartedPeers }),
  });
});

/** ProvisionPeer(<id>): spawns the peer's machine if it is new, then asks it to attest. */
const startAttestation = enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'PROVISION_PEER') return;
  const name = event.id;
  if (!context.peerNames.includes(name)) {
    const known = context.staticPeers.find((p) => p.name === name) ?? context.discovered[name];
    const input: PeerInput = {
      name,
      ...(known ? { address: known.address, port: known.port } : {}),
      trustedOutOfBand: false,
      attested: context.attestedNames.includes(name),
      anyNameTrusted: context.anyNameTrusted ?? false,
      retry: context.retry,
      attestationTimeoutMs: context.attestationTimeoutMs,
      forgetFailedMs: context.forgetFailedMs,
      ...revokedBefore(context, name),
    };
    enqueue.spawnChild('peer', { id: peerChildId(name), input });
    enqueue.assign({ peerNames: [...context.peerNames, name], departed: context.departed.filter((n) => n !== name) });
  }
  enqueue.sendTo(peerChildId(name), { type: 'ATTEST' });
});

/** The prefix of the done event of a peer machine that ended (Forgotten). */
const PEER_DONE = `xstate.done.actor.${peerChildId('')}`;

/** The name of the peer whose machine ended, from its done event; undefined for any other event. */
export const endedPeer = (event: { type: string }): string | undefined =>
  event.type.startsWith(PEER_DONE) ? event.type.slice(PEER_DONE.length) : undefined;

/**
 * A peer that was only a failed ProvisionPeer was forgotten (its machine ended): the machine is
 * stopped and the name dropped, so its D-Bus object leaves and it no longer counts towards
 * `max_requested_peers`.
 */
const dropEndedPeer = enqueueActions(({ context, event, enqueue }) => {
  const name = endedPeer(event);
  if (name === undefined) return;
  enqueue.stopChild(peerChildId(name));
  enqueue.assign({ peerNames: context.peerNames.filter((n) => n !== name) });
});

/**
 * Tells the peer links that trust or our credentials changed: new credentials concern every link;
 * a trust change only the peers it names (all of them when it names none), so a CA attested for
 * one peer does not make every refused link dial again.
 */
const notifyLinks = enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'TRUST_UPDATED' && event.type !== 'CREDENTIALS_UPDATED') return;
  const concerned = event.type === 'TRUST_UPDATED' && event.peers ? new Set(event.peers) : undefined;
  for (const name of context.peerNames) {
    if (!concerned || concerned.has(name)) enqueue.sendTo(peerChildId(name), { type: event.type });
  }
});

/**
 * The trust store's attested names (and whether a CA placed by hand is trusted) changed:
 * remembered for new peer machines, and told to each running one whose answer changed.
 */
const recordAttestedNames = enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'ATTESTED_NAMES') return;
  const anyName = event.anyName ?? context.anyNameTrusted ?? false;
  const anyNameChanged = anyName !== (context.anyNameTrusted ?? false);
  enqueue.assign({ attestedNames: event.names, anyNameTrusted: anyName });
  const was = new Set(context.attestedNames);
  const now = new Set(event.names);
  for (const name of context.peerNames) {
    if (anyNameChanged || was.has(name) !== now.has(name)) {
      enqueue.sendTo(peerChildId(name), { type: 'ATTESTATION_BOUND', bound: now.has(name), anyName });
    }
  }
});

/**
 * The trust store changed: the names an attested CA is bound to are recorded (ATTESTED_NAMES), and
 * only the links the change concerns are woken (TRUST_UPDATED); a CA placed by hand vouches for
 * any name, so it concerns every link.
 */
const relayTrustStoreChange = enqueueActions(({ event, enqueue }) => {
  if (event.type !== 'TRUST_STORE_CHANGED') return;
  enqueue.raise({ type: 'ATTESTED_NAMES', names: event.attestedNames, anyName: event.anyNameTrusted });
  enqueue.raise(event.placedByHand ? { type: 'TRUST_UPDATED' } : { type: 'TRUST_UPDATED', peers: event.changedNames });
});

/**
 * A requester at `address` has attested this BMC (mutual trust): the static peers configured at
 * that address and the LLDP neighbours announcing it are asked to attest back (each peer machine
 * decides whether it still must); the watch is told whom, for its log.
 */
const attestBack = enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'RESPONDER_ATTESTED') return;
  const names = attestBackTargets(event.address, context);
  enqueue.sendTo('responderAttestations', { type: 'ATTESTING_BACK', address: event.address, names });
  // A target without a machine yet (this BMC is not provisioned) has nothing to attest back with.
  for (const name of names) if (context.peerNames.includes(name)) enqueue.sendTo(peerChildId(name), { type: 'ATTEST_BACK' });
});

/** A leaf an inbound link presented goes to that peer's machine (a name without one has nothing to re-attest). */
const forwardInboundLeaf = enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'INBOUND_PEER_LEAF' || !context.peerNames.includes(event.name)) return;
  enqueue.sendTo(peerChildId(event.name), { type: 'PEER_LEAF_CHANGED', peerLeaf: event.fingerprint });
});

/** provisioned = true is on disk, or its write failed (and was logged): it may be published now. */
const allowPublishingProvisioned = assignContext({ provisionedPublishable: true });

/**
 * A new inbound link from a peer we have a machine for: it verified our certificate, so it trusts
 * our CA now, and our own link to it, if it waits to retry, dials at once (PEER_DIALLED_IN). Runs
 * before inboundUp notes the connection, so a repeated INBOUND_UP wakes nobody.
 */
const wakeLinkOfDialler = enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'INBOUND_UP' || !context.peerNames.includes(event.peer)) return;
  if ((context.inbound[event.peer] ?? []).includes(event.connectionId)) return;
  enqueue.sendTo(peerChildId(event.peer), { type: 'PEER_DIALLED_IN' });
});

/** Notes an inbound link the responder accepted (once per connection id). */
const inboundUp = assignContext({
  inbound: ({ context, event }) => {
    if (event.type !== 'INBOUND_UP') return context.inbound;
    const open = context.inbound[event.peer] ?? [];
    return open.includes(event.connectionId) ? context.inbound : { ...context.inbound, [event.peer]: [...open, event.connectionId] };
  },
});

/** Forgets an inbound link that closed; a peer without open links leaves the table. */
const inboundDown = assignContext({
  inbound: ({ context, event }) => {
    if (event.type !== 'INBOUND_DOWN') return context.inbound;
    const rest = (context.inbound[event.peer] ?? []).filter((id) => id !== event.connectionId);
    const next = { ...context.inbound };
    if (rest.length) next[event.peer] = rest;
    else delete next[event.peer];
    return next;
  },
});

/** A stopped responder closes its connections without reporting each: all inbound links are gone. */
const forgetInbound = assignContext({ inbound: {} });

/** Records why the responder could not listen, as `responderError`. */
const recordResponderFailure = assignContext({
  responderError: ({ event }) => (event.type === 'RESPONDER_FAILED' ? { code: 'RESPONDER_FAILED', message: event.reason } : undefined),
});

/** The daemon machine's actions, by the names its chart uses. */
export const provisioningActions = {
  queueSelfRequest,
  recordIssue,
  recordIssueFailure,
  answerSelfRequests,
  refuseSelfRequests,
  recordClockImplausible,
  recordClockPlausible,
  refuseForClock,
  recordBusNameOwned,
  startWatching,
  spawnStaticPeers,
  spawnDiscoveredPeers,
  recordNeighbour,
  dialNeighbour,
  forgetNeighbour,
  recordRevoked,
  recordReinstated,
  startAttestation,
  dropEndedPeer,
  notifyLinks,
  recordAttestedNames,
  relayTrustStoreChange,
  attestBack,
  forwardInboundLeaf,
  allowPublishingProvisioned,
  wakeLinkOfDialler,
  inboundUp,
  inboundDown,
  forgetInbound,
  recordResponderFailure,
};
