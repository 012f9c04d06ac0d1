import { assign, fromPromise, setup } from 'xstate';

/** One request/response exchange of the SPDM 1.2 attestation flow, in the order the chart runs them. */
export type SpdmRequesterStep = 'version' | 'capabilities' | 'algorithms' | 'digests' | 'certificate' | 'challenge' | 'measurements';

/** What an exchange reports back: whether the same step must run again (more certificate chunks). */
export interface SpdmStepOutput {
  readonly more: boolean;
}

/** Why an attestation failed: an SpdmError code and its one-line reason. */
export interface SpdmFailure {
  readonly code: string;
  readonly message: string;
}

/** Whatever performs the exchanges of one attestation (src/spdm's RequesterSession); opaque to the chart. */
export interface SpdmExchanger {
  run(step: SpdmRequesterStep): Promise<SpdmStepOutput>;
}

/** The requester chart's configuration. */
export interface SpdmRequesterInput {
  /** Deadline of each exchange (send request, receive and check its response). */
  readonly exchangeTimeoutMs: number;
  /** Handed to the exchange actor with each step. */
  readonly exchanger: SpdmExchanger;
}

/** The requester chart's context: its deadline, the current step and, once failed, why. */
export interface SpdmRequesterContext extends SpdmRequesterInput {
  readonly step: SpdmRequesterStep;
  readonly chunks: number;
  readonly failure?: SpdmFailure;
}

/** The chart's result: verified, or failed with a reason. */
export type SpdmRequesterOutput = { readonly verified: true } | { readonly verified: false; readonly failure: SpdmFailure };

function failureOf(error: unknown): SpdmFailure {
  const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : 'INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  return { code, message };
}

/** What the exchange actor gets: the step to perform and who performs it. */
export interface SpdmExchangeInput {
  readonly step: SpdmRequesterStep;
  readonly exchanger: SpdmExchanger;
}

const exchangeNotProvided = fromPromise<SpdmStepOutput, SpdmExchangeInput>(async () => {
  throw new Error('the SPDM exchange actor is not provided');
});

/**
 * Invokes the exchange for `step`; on success goes to `next` (or, with `repeat`, back into this
 * state while the exchange reports more to fetch); on error or timeout to Failed.
 */
function exchangeState(step: SpdmRequesterStep, next: string, repeat?: string) {
  return {
    entry: { type: 'enterStep', params: { step } },
    invoke: {
      src: 'exchange',
      input: ({ context }: { context: SpdmRequesterContext }) => ({ step, exchanger: context.exchanger }),
      onDone: [
        ...(repeat ? [{ guard: 'moreChunks', target: repeat, reenter: true, actions: 'countChunk' } as const] : []),
        { target: next },
      ],
      onError: { target: 'Failed', actions: 'recordFailure' },
    },
    after: { exchangeTimeout: { target: 'Failed', actions: 'recordTimeout' } },
  } as const;
}

/**
 * The SPDM 1.2 requester flow without sessions: VCA (GET_VERSION, GET_CAPABILITIES,
 * NEGOTIATE_ALGORITHMS), GET_DIGESTS, GET_CERTIFICATE (looping over chunks), CHALLENGE, signed
 * GET_MEASUREMENTS for all blocks; then Verified, or Failed with the first reason. Each exchange
 * (and its crypto checks) is the `exchange` actor that src/spdm provides.
 */
export const spdmRequesterMachine = setup({
  types: {
    context: {} as SpdmRequesterContext,
    input: {} as SpdmRequesterInput,
    output: {} as SpdmRequesterOutput,
  },
  actors: { exchange: exchangeNotProvided },
  guards: {
    moreChunks: ({ event }) => 'output' in event && (event.output as SpdmStepOutput).more,
  },
  actions: {
    enterStep: assign((_, params: { step: SpdmRequesterStep }) => ({ step: params.step })),
    countChunk: assign({ chunks: ({ context }) => context.chunks + 1 }),
    recordFailure: assign({ failure: ({ event }) => failureOf('error' in event ? event.error : event) }),
    recordTimeout: assign({ failure: ({ context }) => ({ code: 'TIMEOUT', message: `${context.step}: no valid response in time` }) }),
  },
  delays: {
    exchangeTimeout: ({ context }) => context.exchangeTimeoutMs,
  },
}).createMachine({
  id: 'spdmRequester',
  context: ({ input }) => ({ ...input, step: 'version', chunks: 0 }),
  initial: 'Version',
  states: {
    Version: exchangeState('version', 'Capabilities'),
    Capabilities: exchangeState('capabilities', 'Algorithms'),
    Algorithms: exchangeState('algorithms', 'Digests'),
    Digests: exchangeState('digests', 'Certificate'),
    Certificate: exchangeState('certificate', 'Challenge', 'Certificate'),
    Challenge: exchangeState('challenge', 'Measurements'),
    Measurements: exchangeState('measurements', 'Verified'),
    Verified: { type: 'final' },
    Failed: { type: 'final' },
  },
  output: ({ context }) =>
    context.failure ? { verified: false, failure: context.failure } : { verified: true },
});
