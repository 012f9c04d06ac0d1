import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InspectionEvent } from 'xstate';
import { PEER_STATUS_ORDER } from '../../machines/dbus-properties.ts';
import type { IssueRequest, IssueSummary } from '../../machines/events.ts';
import { selectPeerViews } from '../../machines/peer-projection.ts';
import { ATTESTATION_CANCELLED, ATTESTATION_REJECTED } from '../../machines/reattestation.ts';
import type { ProvisioningActor } from '../../machines/provisioning.machine.ts';
import type { CertificateIssuing } from '../actors/issue-certificates.actor.ts';

/** What the metrics read: the daemon actor (scraped on demand), and whether the service is healthy. */
export interface DaemonMetricsSource {
  /** The daemon actor; absent until it exists (the observer is registered before it is created). */
  actor(): ProvisioningActor | undefined;
}

/** The daemon's Prometheus metrics: a registry, an inspection observer and an issuer wrapper that feed it. */
export interface DaemonMetrics {
  readonly registry: Registry;
  /** Counts link events from the statechart's inspection stream (handshakes, failures by reason). */
  readonly observer: (ev: InspectionEvent) => void;
  /** The issuer with each call timed (token login and CA signatures happen inside it). */
  timeIssuer<T extends CertificateIssuing>(issuer: T): T;
}

/** Link events of the statechart and what they count as. */
const HANDSHAKE_OUTCOME: Record<string, { direction: 'outbound' | 'inbound'; result: 'ok' | 'failed' } | undefined> = {
  LINK_UP: { direction: 'outbound', result: 'ok' },
  LINK_FAILED: { direction: 'outbound', result: 'failed' },
  LINK_REJECTED: { direction: 'outbound', result: 'failed' },
  INBOUND_UP: { direction: 'inbound', result: 'ok' },
  INBOUND_FAILED: { direction: 'inbound', result: 'failed' },
};
const FAILURE_REASON: Record<string, string | undefined> = {
  LINK_DOWN: 'link_down',
  LINK_FAILED: 'connect_failed',
  LINK_REJECTED: 'rejected',
  INBOUND_DOWN: 'inbound_down',
  RESPONDER_FAILED: 'responder_failed',
};

/** The re-attesting states of a peer machine (over our link, or between dials); their invoke's outcomes and timeout end with their id. */
const REATTESTING = ['.peer.Link.Connected.Reattesting', '.peer.NotConnected.Reattesting'];

/** How a re-attestation ended, from the event that ended it (undefined for any other event, and for one whose binding went). */
function reattestVerdictOf(event: { type: string; error?: unknown }): 'passed' | 'rejected' | 'unreachable' | undefined {
  if (!REATTESTING.some((state) => event.type.endsWith(state))) return undefined;
  if (event.type.startsWith('xstate.done.actor.')) return 'passed';
  if (event.type.startsWith('xstate.error.actor.')) {
    const code = (event.error as { code?: unknown } | undefined)?.code;
    if (code === ATTESTATION_CANCELLED) return undefined; // its binding went while it ran: no verdict
    return code === ATTESTATION_REJECTED ? 'rejected' : 'unreachable';
  }
  return event.type.startsWith('xstate.after.') ? 'unreachable' : undefined;
}

/**
 * The metrics of docs/operations.md, on a registry of their own (prom-client). Peers by state and
 * the leaf expiry are read from the snapshot at scrape time; counters follow the inspection stream.
 */
export function createDaemonMetrics(source: DaemonMetricsSource): DaemonMetrics {
  const registry = new Registry();
  const snapshot = () => source.actor()?.getSnapshot();

  new Gauge({
    name: 'provisioning_peers',
    help: 'Peers by the status of their per-peer object (the highest of their links).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const snap = snapshot();
      const counts = new Map<string, number>(PEER_STATUS_ORDER.map((s) => [s, 0]));
      if (snap) for (const v of selectPeerViews(snap)) {
        const s = v.peerConnected.split('.').pop() ?? '';
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'provisioning_provisioned',
    help: '1 when this BMC is provisioned (the persisted flag), else 0.',
    registers: [registry],
    collect() {
      this.set(snapshot()?.context.provisioned ? 1 : 0);
    },
  });
  new Gauge({
    name: 'provisioning_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the current TLS leaf certificates (Unix time); absent before the first issuance.',
    labelNames: ['certificate'],
    registers: [registry],
    collect() {
      const notAfter = snapshot()?.context.leafNotAfter;
      this.reset();
      if (notAfter !== undefined) this.set({ certificate: 'leaf' }, notAfter / 1000);
    },
  });
  const handshakes = new Counter({
    name: 'provisioning_handshakes_total',
    help: 'Peer-link handshakes (TLS + Hello/alive) by direction and result.',
    labelNames: ['direction', 'result'],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'provisioning_link_failures_total',
    help: 'Peer-link failures by reason.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const tokenCalls = new Histogram({
    name: 'provisioning_token_call_duration_seconds',
    help: 'Certificate issuances through the token (login, CA key lookup, signatures), by reason and result.',
    labelNames: ['reason', 'result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  for (const direction of ['outbound', 'inbound']) for (const result of ['ok', 'failed']) handshakes.inc({ direction, result }, 0);
  const reattestations = new Counter({
    name: 'provisioning_reattestations_total',
    help: 'Re-attestations of attested peers by verdict: passed, rejected (the peer was revoked), unreachable (could not run: no verdict).',
    labelNames: ['verdict'],
    registers: [registry],
  });
  for (const verdict of ['passed', 'rejected', 'unreachable']) reattestations.inc({ verdict }, 0);
  new Gauge({
    name: 'provisioning_peers_attestation_stale',
    help: 'Peers whose last reattest_max_unreachable re-attestations could not run (their trust rests on an older verdict).',
    registers: [registry],
    collect() {
      const snap = snapshot();
      this.set(snap ? selectPeerViews(snap).filter((v) => v.attestationStale).length : 0);
    },
  });

  return {
    registry,
    observer(ev) {
      if (ev.type !== '@xstate.event') return;
      const type = ev.event.type;
      const outcome = HANDSHAKE_OUTCOME[type];
      if (outcome) handshakes.inc(outcome);
      const reason = FAILURE_REASON[type];
      if (reason) failures.inc({ reason });
      const verdict = reattestVerdictOf(ev.event);
      if (verdict) reattestations.inc({ verdict });
    },
    timeIssuer(issuer) {
      const timed = Object.create(issuer) as typeof issuer;
      timed.issue = async (req: IssueRequest): Promise<IssueSummary> => {
        const end = tokenCalls.startTimer({ reason: req.reason });
        try {
          const out = await issuer.issue(req);
          end({ result: 'ok' });
          return out;
        } catch (err) {
          end({ result: 'failed' });
          throw err;
        }
      };
      return timed;
    },
  };
}
