import { createActor, fromPromise, toPromise } from 'xstate';
import { type SpdmExchangeInput, spdmRequesterMachine, type SpdmStepOutput } from '../../machines/spdm-requester.machine.ts';
import type { SignerAlgorithm } from './algorithms.ts';
import { RequesterConnection } from './requester-connection.ts';
import { RequesterDeadline } from './requester-deadline.ts';
import { RequesterSession, type SpdmAttestReport } from './requester-session.ts';
import { SpdmError } from './spdm-error.ts';
import type { SpdmTransport } from './transport.ts';

/** Whom to attest, what to trust, how long to try. */
export interface SpdmAttestOptions {
  readonly host: string;
  readonly port: number;
  readonly transport: SpdmTransport;
  /** Trusted root certificates, DER. */
  readonly roots: readonly Uint8Array[];
  /** Deadline of the whole attestation: connecting, every exchange and the chart share it. */
  readonly timeoutMs: number;
  /** Signature algorithms to offer (default both). */
  readonly algorithms?: readonly SignerAlgorithm[];
}

/** The requester chart with its exchange actor, built once: each step runs on the attestation's own session. */
const requesterLogic = spdmRequesterMachine.provide({
  actors: { exchange: fromPromise<SpdmStepOutput, SpdmExchangeInput>(({ input }) => input.exchanger.run(input.step)) },
});

/**
 * Attests an SPDM 1.2 responder: VCA, digests, the certificate chain (verified against `roots`),
 * CHALLENGE (signature over M2 with a fresh nonce) and signed measurements of all blocks (over L2
 * with a fresh nonce). Resolves with the report, or rejects with an SpdmError saying why.
 */
export async function attest(o: SpdmAttestOptions): Promise<SpdmAttestReport> {
  if (o.roots.length === 0) throw new SpdmError('UNTRUSTED_CHAIN', 'no trusted root given');
  const deadline = new RequesterDeadline(o.timeoutMs, `attestation of ${o.host}:${o.port}`);
  try {
    const conn = await RequesterConnection.open({ host: o.host, port: o.port, transport: o.transport, deadline });
    try {
      const session = new RequesterSession({ conn, roots: o.roots, algorithms: o.algorithms });
      // The chart's own per-step delay (exchangeTimeout) is never shorter than what is left of the
      // deadline, so the deadline is what ends a silent responder; the chart keeps its guard for
      // exchangers that do not share it.
      const actor = createActor(requesterLogic, { input: { exchangeTimeoutMs: o.timeoutMs, exchanger: session } });
      const done = toPromise(actor);
      actor.start();
      const out = await deadline.race(done, undefined, () => actor.stop());
      if (!out) throw new SpdmError('INTERNAL', 'the requester chart stopped without a result');
      if (!out.verified) throw new SpdmError(out.failure.code as SpdmError['code'], out.failure.message);
      return session.report();
    } finally {
      conn.close();
    }
  } finally {
    deadline.clear();
  }
}
