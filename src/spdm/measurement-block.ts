// DMTF measurement blocks (DSP0274 1.2, MEASUREMENTS): Index, MeasurementSpecification=DMTF,
// MeasurementSize, then DMTFSpecMeasurementValueType (bit 7: raw bit stream), ValueSize, Value.
import { ByteReader, ByteWriter } from './byte-reader.ts';
import { MEASUREMENT_SPEC_DMTF, RAW_BIT_STREAM } from './constants.ts';
import { SpdmError } from './spdm-error.ts';

/** One DMTF measurement block as served and as reported (value is the raw measurement value or its digest). */
export interface MeasurementBlock {
  /** 1..0xFE. */
  readonly index: number;
  /** DMTFSpecMeasurementValueType without the raw bit (0 immutable ROM, 1 mutable firmware, …). */
  readonly valueType: number;
  /** True: value is the raw bit stream; false: value is a digest with the measurement hash. */
  readonly raw: boolean;
  readonly value: Uint8Array;
}

/** The largest DMTF measurement value a block can hold (MeasurementSize is 16-bit and includes 3 bytes of header). */
export const MAX_MEASUREMENT_VALUE = 0xffff - 3;

export function encodeBlock(b: MeasurementBlock): Uint8Array {
  if (b.index < 1 || b.index > 0xfe) throw new SpdmError('MALFORMED', `measurement index ${b.index} outside 1..254`);
  if (b.valueType < 0 || b.valueType > 0x7f) throw new SpdmError('MALFORMED', `measurement value type ${b.valueType}`);
  if (b.value.length > MAX_MEASUREMENT_VALUE) throw new SpdmError('OVERSIZED', `measurement ${b.index} too large`);
  return new ByteWriter()
    .u8(b.index)
    .u8(MEASUREMENT_SPEC_DMTF)
    .u16(b.value.length + 3)
    .u8(b.valueType | (b.raw ? RAW_BIT_STREAM : 0))
    .u16(b.value.length)
    .bytes(b.value)
    .finish();
}

export function encodeRecord(blocks: readonly MeasurementBlock[]): Uint8Array {
  const w = new ByteWriter();
  for (const b of blocks) w.bytes(encodeBlock(b));
  return w.finish();
}

/** Parses a MeasurementRecord that must hold exactly `count` blocks and nothing else. */
export function parseRecord(record: Uint8Array, count: number): MeasurementBlock[] {
  const r = new ByteReader(record, 'MeasurementRecord');
  const blocks: MeasurementBlock[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const index = r.u8('Index');
    const spec = r.u8('MeasurementSpecification');
    const size = r.u16('MeasurementSize');
    if (spec !== MEASUREMENT_SPEC_DMTF) throw new SpdmError('MALFORMED', `measurement ${index}: specification ${spec} is not DMTF`);
    if (index === 0 || index === 0xff) throw new SpdmError('MALFORMED', `measurement index ${index}`);
    if (seen.has(index)) throw new SpdmError('MALFORMED', `measurement index ${index} repeated`);
    seen.add(index);
    const type = r.u8('DMTFSpecMeasurementValueType');
    const valueSize = r.u16('DMTFSpecMeasurementValueSize');
    if (size !== valueSize + 3) throw new SpdmError('MALFORMED', `measurement ${index}: MeasurementSize ${size} != ${valueSize} + 3`);
    const value = r.bytes(valueSize, 'DMTFSpecMeasurementValue');
    blocks.push({ index, valueType: type & 0x7f, raw: (type & RAW_BIT_STREAM) !== 0, value });
  }
  r.end();
  return blocks;
}
