// DSP0274 (SPDM) 1.2 numbers this implementation uses: request/response codes, capability flags,
// error codes, measurement constants. Values as defined by the specification (and libspdm's spdm.h).

/** SPDMVersion byte of GET_VERSION/VERSION (always 1.0) and of every later 1.2 message. */
export const VERSION_10 = 0x10;
export const VERSION_12 = 0x12;

/** Request codes. */
export const Req = {
  GET_DIGESTS: 0x81,
  GET_CERTIFICATE: 0x82,
  CHALLENGE: 0x83,
  GET_VERSION: 0x84,
  GET_MEASUREMENTS: 0xe0,
  GET_CAPABILITIES: 0xe1,
  NEGOTIATE_ALGORITHMS: 0xe3,
} as const;

/** Response codes. */
export const Rsp = {
  DIGESTS: 0x01,
  CERTIFICATE: 0x02,
  CHALLENGE_AUTH: 0x03,
  VERSION: 0x04,
  MEASUREMENTS: 0x60,
  CAPABILITIES: 0x61,
  ALGORITHMS: 0x63,
  ERROR: 0x7f,
} as const;

/** ERROR response codes (param1). */
export const ErrorCode = {
  INVALID_REQUEST: 0x01,
  BUSY: 0x03,
  UNEXPECTED_REQUEST: 0x04,
  UNSPECIFIED: 0x05,
  UNSUPPORTED_REQUEST: 0x07,
  RESPONSE_TOO_LARGE: 0x0d,
  REQUEST_TOO_LARGE: 0x0e,
  VERSION_MISMATCH: 0x41,
  RESPONSE_NOT_READY: 0x42,
  REQUEST_RESYNCH: 0x43,
} as const;

/** Names of ERROR codes, for reasons. */
export function errorCodeName(code: number): string {
  for (const [name, v] of Object.entries(ErrorCode)) if (v === code) return name;
  return `0x${code.toString(16).padStart(2, '0')}`;
}

/** CAPABILITIES / GET_CAPABILITIES flags (1.2); PSK is a two-bit field. */
export const CapFlag = {
  CACHE: 0x1,
  CERT: 0x2,
  CHAL: 0x4,
  MEAS_NO_SIG: 0x8,
  MEAS_SIG: 0x10,
  MEAS_FRESH: 0x20,
  ENCRYPT: 0x40,
  MAC: 0x80,
  MUT_AUTH: 0x100,
  KEY_EX: 0x200,
  PSK: 0xc00,
  ENCAP: 0x1000,
  HBEAT: 0x2000,
  KEY_UPD: 0x4000,
  HANDSHAKE_IN_THE_CLEAR: 0x8000,
  PUB_KEY_ID: 0x10000,
  CHUNK: 0x20000,
} as const;

/** DataTransferSize may not be smaller than this in 1.2. */
export const MIN_DATA_TRANSFER_SIZE_12 = 42;

export const NONCE_SIZE = 32;
/** Opaque data longer than this is refused (DSP0274 1.2 limit). */
export const MAX_OPAQUE_SIZE = 1024;
/** Certificate slots (GET_DIGESTS slot mask bits). */
export const MAX_SLOTS = 8;
/** A 1.2 certificate chain has a 16-bit length. */
export const MAX_CERT_CHAIN_SIZE = 0xffff;

/** GET_MEASUREMENTS attributes (param1). */
export const MeasAttr = { SIGNATURE: 0x1, RAW_BIT_STREAM: 0x2 } as const;
/** GET_MEASUREMENTS operations (param2). */
export const MeasOp = { COUNT: 0x00, ALL: 0xff } as const;
/** MeasurementSpecification: DMTF. */
export const MEASUREMENT_SPEC_DMTF = 0x01;
/** DMTFSpecMeasurementValueType bit 7: the value is a raw bit stream, not a digest. */
export const RAW_BIT_STREAM = 0x80;
/** MeasurementSummaryHashType of CHALLENGE (param2). */
export const SummaryHash = { NONE: 0x00, TCB: 0x01, ALL: 0xff } as const;

/** OtherParams opaque data formats (1.2). */
export const OpaqueFormat = { NONE: 0x0, FORMAT0: 0x1, FORMAT1: 0x2, MASK: 0x3 } as const;

/** NEGOTIATE_ALGORITHMS structure-table AlgType values (DHE, AEAD, ReqBaseAsymAlg, KeySchedule). */
export const ALG_TYPE_MIN = 2;
export const ALG_TYPE_MAX = 5;
/** NEGOTIATE_ALGORITHMS may not be longer than this in 1.2. */
export const MAX_NEGOTIATE_ALGORITHMS_LENGTH = 0x80;

/** Signing-context strings (DSP0274 1.2, 15: signature generation). */
export const SIGN_CONTEXT = {
  challengeAuth: 'responder-challenge_auth signing',
  measurements: 'responder-measurements signing',
} as const;
