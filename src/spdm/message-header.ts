import { ByteReader, ByteWriter } from './byte-reader.ts';
import { Rsp } from './constants.ts';
import { SpdmError } from './spdm-error.ts';

/** The four bytes every SPDM message starts with. */
export interface SpdmHeader {
  readonly version: number;
  readonly code: number;
  readonly param1: number;
  readonly param2: number;
}

/** Reads the header of any SPDM message (the rest is left to the message's own parser). */
export function parseHeader(msg: Uint8Array): SpdmHeader {
  const r = new ByteReader(msg, 'SPDM message');
  return { version: r.u8('SPDMVersion'), code: r.u8('RequestResponseCode'), param1: r.u8('Param1'), param2: r.u8('Param2') };
}

/** Starts a message with its header; callers append the body. */
export function headerWriter(h: SpdmHeader): ByteWriter {
  return new ByteWriter().u8(h.version).u8(h.code).u8(h.param1).u8(h.param2);
}

/** A reader positioned after a header that must carry `code` (and `version`, when given). */
export function bodyReader(msg: Uint8Array, what: string, code: number, version?: number): { r: ByteReader; h: SpdmHeader } {
  const r = new ByteReader(msg, what);
  const h = { version: r.u8('SPDMVersion'), code: r.u8('RequestResponseCode'), param1: r.u8('Param1'), param2: r.u8('Param2') };
  if (h.code !== code) throw new SpdmError('MALFORMED', `${what}: code 0x${h.code.toString(16)} is not 0x${code.toString(16)}`);
  if (version !== undefined && h.version !== version) {
    throw new SpdmError('MALFORMED', `${what}: version 0x${h.version.toString(16)} is not 0x${version.toString(16)}`);
  }
  return { r, h };
}

/** An ERROR response. */
export interface ErrorResponse {
  readonly version: number;
  readonly errorCode: number;
  readonly errorData: number;
  /** ExtendedErrorData (at most 32 bytes). */
  readonly extended: Uint8Array;
}

export function encodeError(e: ErrorResponse): Uint8Array {
  return headerWriter({ version: e.version, code: Rsp.ERROR, param1: e.errorCode, param2: e.errorData }).bytes(e.extended).finish();
}

export function parseError(msg: Uint8Array): ErrorResponse {
  const { r, h } = bodyReader(msg, 'ERROR', Rsp.ERROR);
  if (r.remaining > 32) throw new SpdmError('OVERSIZED', `ERROR: ${r.remaining} bytes of extended data (at most 32)`);
  return { version: h.version, errorCode: h.param1, errorData: h.param2, extended: r.bytes(r.remaining, 'ExtendedErrorData') };
}
