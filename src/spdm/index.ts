// SPDM 1.2 (DSP0274) over TCP (DSP0287, or spdm-emu's socket framing): a requester that attests a
// responder, and a responder that serves this device's identity and measurements.
export type { AsymName, HashName, SignerAlgorithm } from './algorithms.ts';
export type { MeasurementBlock } from './measurement-block.ts';
export { attest, type SpdmAttestOptions } from './requester.ts';
export type { SpdmAttestReport } from './requester-session.ts';
export {
  DEFAULT_SPDM_CONNECTION_LIFETIME_MS,
  DEFAULT_SPDM_MAX_CONNECTIONS,
  DEFAULT_SPDM_MAX_CONNECTIONS_PER_ADDRESS,
  startSpdmResponder,
  type SpdmResponder,
  type SpdmResponderOptions,
  type SpdmSessionEvent,
} from './responder.ts';
export { DEFAULT_SPDM_MAX_SIGNATURES, RESPONDER_MAX_MESSAGE } from './responder-session.ts';
export { signerAlgorithmOf, softwareSigner, type SpdmSigner } from './signing.ts';
export { isSpdmError, SpdmError, type SpdmErrorCode } from './spdm-error.ts';
export { tokenSigner } from './token-signer.ts';
export { FrameDecoder, type SpdmTransport } from './transport.ts';
export { compareMeasurements, type MeasurementManifest, type MeasurementMismatch } from './compare-measurements.ts';
