import { createActor, fromPromise, toPromise } from 'xstate';
import { type SpdmExchangeInput, spdmRequesterMachine, type SpdmStepOutput } from '../../machines/spdm-requester.machine.ts';
import type { SignerAlgorithm } from './algorithms.ts';
import { RequesterConnection } from './requester-connection.ts';
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
  /** Deadline of the whole attestation (each exchange gets the same bound). */
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
  const started = performance.now();
  const conn = await RequesterConnection.open({ host: o.host, port: o.port, transport: o.transport, timeoutMs: o.timeoutMs });
  let overall: NodeJS.Timeout | undefined;
  try {
    const session = new RequesterSession({ conn, roots: o.roots, exchangeTimeoutMs: o.timeoutMs, algorithms: o.algorithms });
    const actor = createActor(requesterLogic, { input: { exchangeTimeoutMs: o.timeoutMs, exchanger: session } });
    const done = toPromise(actor);
    const deadline = new Promise<never>((_, reject) => {
      overall = setTimeout(() => {
        reject(new SpdmError('TIMEOUT', `attestation of ${o.host}:${o.port} did not finish within ${o.timeoutMs} ms`));
        actor.stop();
      }, Math.max(0, o.timeoutMs - (performance.now() - started)));
    });
    actor.start();
    const out = await Promise.race([done, deadline]);
    if (!out) throw new SpdmError('INTERNAL', 'the requester chart stopped without a result');
    if (!out.verified) throw new SpdmError(out.failure.code as SpdmError['code'], out.failure.message);
    return session.report();
  } finally {
    clearTimeout(overall);
    conn.close();
  }
}
