import { setup } from 'xstate';

/** The requests an SPDM 1.2 responder without sessions serves, as chart events. */
export type SpdmResponderEvent =
  | { type: 'GET_VERSION' }
  | { type: 'GET_CAPABILITIES' }
  | { type: 'NEGOTIATE_ALGORITHMS' }
  | { type: 'GET_DIGESTS' }
  | { type: 'GET_CERTIFICATE' }
  | { type: 'CHALLENGE' }
  | { type: 'GET_MEASUREMENTS' };

/**
 * Which request is acceptable when, on one responder connection (DSP0274 1.2 connection states).
 * GET_VERSION is accepted anywhere and restarts the connection; the others only in order:
 * GET_CAPABILITIES after VERSION, NEGOTIATE_ALGORITHMS after CAPABILITIES, the rest once
 * negotiated. A CHALLENGE that succeeded makes the connection authenticated (which decides how
 * GET_MEASUREMENTS resets the challenge transcript). A request the chart cannot take gets ERROR
 * UnexpectedRequest; the server sends the event only after the request was answered successfully.
 */
export const spdmResponderMachine = setup({
  types: { events: {} as SpdmResponderEvent },
}).createMachine({
  id: 'spdmResponder',
  initial: 'AwaitingVersion',
  on: { GET_VERSION: { target: '.AwaitingCapabilities' } },
  states: {
    AwaitingVersion: {},
    AwaitingCapabilities: { on: { GET_CAPABILITIES: 'AwaitingAlgorithms' } },
    AwaitingAlgorithms: { on: { NEGOTIATE_ALGORITHMS: 'Negotiated' } },
    Negotiated: {
      initial: 'Unauthenticated',
      states: {
        Unauthenticated: {
          on: {
            GET_DIGESTS: 'Unauthenticated',
            GET_CERTIFICATE: 'Unauthenticated',
            GET_MEASUREMENTS: 'Unauthenticated',
            CHALLENGE: 'Authenticated',
          },
        },
        Authenticated: {
          on: {
            GET_DIGESTS: 'Authenticated',
            GET_CERTIFICATE: 'Authenticated',
            GET_MEASUREMENTS: 'Authenticated',
            CHALLENGE: 'Authenticated',
          },
        },
      },
    },
  },
});
