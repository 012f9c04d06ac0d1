// GET_MEASUREMENTS/MEASUREMENTS (DSP0274 1.2: the nonce is present even when unsigned; no RequesterContext).
import { MAX_SLOTS, MeasAttr, NONCE_SIZE, Req, Rsp, VERSION_12 } from './constants.ts';
import { readOpaque } from './challenge-messages.ts';
import { bodyReader, headerWriter } from './message-header.ts';
import { SpdmError } from './spdm-error.ts';

/** GET_MEASUREMENTS: attributes (signature, raw bit stream), operation (0 count, 1..254 one index, 255 all). */
export interface GetMeasurements {
  readonly attributes: number;
  readonly operation: number;
  /** Present exactly when a signature is requested. */
  readonly nonce?: Uint8Array;
  readonly slot?: number;
}

export function encodeGetMeasurements(g: GetMeasurements): Uint8Array {
  const w = headerWriter({ version: VERSION_12, code: Req.GET_MEASUREMENTS, param1: g.attributes, param2: g.operation });
  if (g.attributes & MeasAttr.SIGNATURE) w.bytes(g.nonce ?? new Uint8Array(NONCE_SIZE)).u8(g.slot ?? 0);
  return w.finish();
}

export function parseGetMeasurements(msg: Uint8Array): GetMeasurements {
  const { r, h } = bodyReader(msg, 'GET_MEASUREMENTS', Req.GET_MEASUREMENTS, VERSION_12);
  if (h.param1 & ~(MeasAttr.SIGNATURE | MeasAttr.RAW_BIT_STREAM | 0x4)) {
    throw new SpdmError('MALFORMED', `GET_MEASUREMENTS: reserved attribute bits 0x${h.param1.toString(16)}`);
  }
  if (!(h.param1 & MeasAttr.SIGNATURE)) {
    r.end();
    return { attributes: h.param1, operation: h.param2 };
  }
  const nonce = r.bytes(NONCE_SIZE, 'Nonce');
  const slotParam = r.u8('SlotIDParam');
  r.end();
  const slot = slotParam & 0xf;
  if (slot >= MAX_SLOTS || (slotParam & 0xf0) !== 0) throw new SpdmError('MALFORMED', `GET_MEASUREMENTS: slot ${slotParam}`);
  return { attributes: h.param1, operation: h.param2, nonce, slot };
}

/** MEASUREMENTS; `signedPart` is the message up to the signature. */
export interface Measurements {
  /** TotalNumberOfMeasurementIndices for operation 0, else 0. */
  readonly param1: number;
  /** Slot ID and content-changed bits. */
  readonly param2: number;
  readonly numberOfBlocks: number;
  readonly record: Uint8Array;
  readonly nonce: Uint8Array;
  readonly opaque: Uint8Array;
  readonly signature: Uint8Array;
}

/** The unsigned part; append the signature (if requested) to get the message. */
export function encodeMeasurementsUnsigned(m: Omit<Measurements, 'signature'>): Uint8Array {
  if (m.record.length > 0xffffff) throw new SpdmError('OVERSIZED', 'MEASUREMENTS: record too long');
  return headerWriter({ version: VERSION_12, code: Rsp.MEASUREMENTS, param1: m.param1, param2: m.param2 })
    .u8(m.numberOfBlocks)
    .u24(m.record.length)
    .bytes(m.record)
    .bytes(m.nonce)
    .u16(m.opaque.length)
    .bytes(m.opaque)
    .finish();
}

export function parseMeasurements(msg: Uint8Array, signatureSize: number): { measurements: Measurements; signedPart: Uint8Array } {
  const { r, h } = bodyReader(msg, 'MEASUREMENTS', Rsp.MEASUREMENTS, VERSION_12);
  const numberOfBlocks = r.u8('NumberOfBlocks');
  const recordLength = r.u24('MeasurementRecordLength');
  const record = r.bytes(recordLength, 'MeasurementRecord');
  const nonce = r.bytes(NONCE_SIZE, 'Nonce');
  const opaque = readOpaque(r, 'MEASUREMENTS');
  const signedLength = r.offset;
  const signature = r.bytes(signatureSize, 'Signature');
  r.end();
  return {
    measurements: { param1: h.param1, param2: h.param2, numberOfBlocks, record, nonce, opaque, signature },
    signedPart: msg.slice(0, signedLength),
  };
}
