// GET_VERSION/VERSION, GET_CAPABILITIES/CAPABILITIES, NEGOTIATE_ALGORITHMS/ALGORITHMS (the "VCA"
// exchange whose bytes open every transcript), as DSP0274 1.2 lays them out.
import type { ByteReader } from './byte-reader.ts';
import {
  ALG_TYPE_MAX,
  ALG_TYPE_MIN,
  MAX_NEGOTIATE_ALGORITHMS_LENGTH,
  MIN_DATA_TRANSFER_SIZE_12,
  Req,
  Rsp,
  VERSION_10,
  VERSION_12,
} from './constants.ts';
import { bodyReader, headerWriter } from './message-header.ts';
import { SpdmError } from './spdm-error.ts';

export function encodeGetVersion(): Uint8Array {
  return headerWriter({ version: VERSION_10, code: Req.GET_VERSION, param1: 0, param2: 0 }).finish();
}

export function parseGetVersion(msg: Uint8Array): void {
  const { r } = bodyReader(msg, 'GET_VERSION', Req.GET_VERSION, VERSION_10);
  r.end();
}

/** VERSION: the version entries (u16: major<<12 | minor<<8 | update<<4 | alpha). */
export interface VersionResponse {
  readonly entries: readonly number[];
}

export function encodeVersion(v: VersionResponse): Uint8Array {
  const w = headerWriter({ version: VERSION_10, code: Rsp.VERSION, param1: 0, param2: 0 }).u8(0).u8(v.entries.length);
  for (const e of v.entries) w.u16(e);
  return w.finish();
}

export function parseVersion(msg: Uint8Array): VersionResponse {
  const { r } = bodyReader(msg, 'VERSION', Rsp.VERSION, VERSION_10);
  r.u8('Reserved');
  const n = r.u8('VersionNumberEntryCount');
  if (n === 0) throw new SpdmError('MALFORMED', 'VERSION: no version entries');
  const entries: number[] = [];
  for (let i = 0; i < n; i++) entries.push(r.u16('VersionNumberEntry'));
  r.end();
  return { entries };
}

/** The SPDMVersion byte (0x12) of a version entry. */
export function versionByte(entry: number): number {
  return (entry >> 8) & 0xff;
}

/** GET_CAPABILITIES and CAPABILITIES share their 1.2 layout. */
export interface Capabilities {
  readonly ctExponent: number;
  readonly flags: number;
  readonly dataTransferSize: number;
  readonly maxSpdmMsgSize: number;
}

function encodeCaps(code: number, c: Capabilities): Uint8Array {
  return headerWriter({ version: VERSION_12, code, param1: 0, param2: 0 })
    .u8(0)
    .u8(c.ctExponent)
    .u16(0)
    .u32(c.flags)
    .u32(c.dataTransferSize)
    .u32(c.maxSpdmMsgSize)
    .finish();
}

function parseCaps(msg: Uint8Array, what: string, code: number): Capabilities {
  const { r } = bodyReader(msg, what, code, VERSION_12);
  r.u8('Reserved');
  const ctExponent = r.u8('CTExponent');
  r.u16('Reserved');
  const flags = r.u32('Flags');
  const dataTransferSize = r.u32('DataTransferSize');
  const maxSpdmMsgSize = r.u32('MaxSPDMmsgSize');
  r.end();
  if (dataTransferSize < MIN_DATA_TRANSFER_SIZE_12) {
    throw new SpdmError('MALFORMED', `${what}: DataTransferSize ${dataTransferSize} below ${MIN_DATA_TRANSFER_SIZE_12}`);
  }
  if (maxSpdmMsgSize < dataTransferSize) throw new SpdmError('MALFORMED', `${what}: MaxSPDMmsgSize below DataTransferSize`);
  return { ctExponent, flags, dataTransferSize, maxSpdmMsgSize };
}

export const encodeGetCapabilities = (c: Capabilities): Uint8Array => encodeCaps(Req.GET_CAPABILITIES, c);
export const parseGetCapabilities = (m: Uint8Array): Capabilities => parseCaps(m, 'GET_CAPABILITIES', Req.GET_CAPABILITIES);
export const encodeCapabilities = (c: Capabilities): Uint8Array => encodeCaps(Rsp.CAPABILITIES, c);
export const parseCapabilities = (m: Uint8Array): Capabilities => parseCaps(m, 'CAPABILITIES', Rsp.CAPABILITIES);

/** One algorithm structure table (DHE, AEAD, ReqBaseAsymAlg, KeySchedule): 2 fixed bytes, no extended algorithms. */
export interface AlgTable {
  readonly type: number;
  readonly supported: number;
}

/** NEGOTIATE_ALGORITHMS (1.2). Extended algorithms are counted and skipped; we never select one. */
export interface NegotiateAlgorithms {
  readonly measurementSpec: number;
  readonly otherParams: number;
  readonly baseAsym: number;
  readonly baseHash: number;
  readonly extAsymCount: number;
  readonly extHashCount: number;
  readonly tables: readonly AlgTable[];
}

export function encodeNegotiateAlgorithms(n: NegotiateAlgorithms): Uint8Array {
  const length = 32 + 4 * (n.extAsymCount + n.extHashCount) + 4 * n.tables.length;
  const w = headerWriter({ version: VERSION_12, code: Req.NEGOTIATE_ALGORITHMS, param1: n.tables.length, param2: 0 })
    .u16(length)
    .u8(n.measurementSpec)
    .u8(n.otherParams)
    .u32(n.baseAsym)
    .u32(n.baseHash)
    .zeros(12)
    .u8(n.extAsymCount)
    .u8(n.extHashCount)
    .u16(0)
    .zeros(4 * (n.extAsymCount + n.extHashCount));
  for (const t of n.tables) w.u8(t.type).u8(0x20).u16(t.supported);
  return w.finish();
}

function parseTables(r: ByteReader, count: number, what: string, extAllowed: boolean): AlgTable[] {
  const tables: AlgTable[] = [];
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const type = r.u8('AlgType');
    const algCount = r.u8('AlgCount');
    if (type < ALG_TYPE_MIN || type > ALG_TYPE_MAX) throw new SpdmError('MALFORMED', `${what}: unknown AlgType ${type}`);
    if (type <= previous) throw new SpdmError('MALFORMED', `${what}: AlgType ${type} out of order`);
    previous = type;
    if (algCount >> 4 !== 2) throw new SpdmError('MALFORMED', `${what}: FixedAlgCount ${algCount >> 4} is not 2`);
    const ext = algCount & 0xf;
    if (ext > 0 && !extAllowed) throw new SpdmError('MALFORMED', `${what}: extended algorithms selected`);
    const supported = r.u16('AlgSupported');
    r.skip(4 * ext, 'AlgExternal');
    tables.push({ type, supported });
  }
  return tables;
}

export function parseNegotiateAlgorithms(msg: Uint8Array): NegotiateAlgorithms {
  const { r, h } = bodyReader(msg, 'NEGOTIATE_ALGORITHMS', Req.NEGOTIATE_ALGORITHMS, VERSION_12);
  const length = r.u16('Length');
  if (length !== msg.length) throw new SpdmError('MALFORMED', `NEGOTIATE_ALGORITHMS: Length ${length} but ${msg.length} bytes`);
  if (length > MAX_NEGOTIATE_ALGORITHMS_LENGTH) throw new SpdmError('OVERSIZED', `NEGOTIATE_ALGORITHMS: Length ${length} over 128`);
  const measurementSpec = r.u8('MeasurementSpecification');
  const otherParams = r.u8('OtherParamsSupport');
  const baseAsym = r.u32('BaseAsymAlgo');
  const baseHash = r.u32('BaseHashAlgo');
  r.skip(12, 'Reserved');
  const extAsymCount = r.u8('ExtAsymCount');
  const extHashCount = r.u8('ExtHashCount');
  r.skip(2, 'Reserved');
  if (extAsymCount + extHashCount > 20) throw new SpdmError('MALFORMED', 'NEGOTIATE_ALGORITHMS: more than 20 extended algorithms');
  r.skip(4 * (extAsymCount + extHashCount), 'ExtAsym/ExtHash');
  const tables = parseTables(r, h.param1, 'NEGOTIATE_ALGORITHMS', true);
  r.end();
  return { measurementSpec, otherParams, baseAsym, baseHash, extAsymCount, extHashCount, tables };
}

/** ALGORITHMS (1.2): what the responder selected. */
export interface Algorithms {
  readonly measurementSpecSel: number;
  readonly otherParamsSel: number;
  readonly measurementHashAlgo: number;
  readonly baseAsymSel: number;
  readonly baseHashSel: number;
  readonly tables: readonly AlgTable[];
}

export function encodeAlgorithms(a: Algorithms): Uint8Array {
  const length = 36 + 4 * a.tables.length;
  const w = headerWriter({ version: VERSION_12, code: Rsp.ALGORITHMS, param1: a.tables.length, param2: 0 })
    .u16(length)
    .u8(a.measurementSpecSel)
    .u8(a.otherParamsSel)
    .u32(a.measurementHashAlgo)
    .u32(a.baseAsymSel)
    .u32(a.baseHashSel)
    .zeros(12)
    .u8(0)
    .u8(0)
    .u16(0);
  for (const t of a.tables) w.u8(t.type).u8(0x20).u16(t.supported);
  return w.finish();
}

export function parseAlgorithms(msg: Uint8Array): Algorithms {
  const { r, h } = bodyReader(msg, 'ALGORITHMS', Rsp.ALGORITHMS, VERSION_12);
  const length = r.u16('Length');
  if (length !== msg.length) throw new SpdmError('MALFORMED', `ALGORITHMS: Length ${length} but ${msg.length} bytes`);
  const measurementSpecSel = r.u8('MeasurementSpecificationSel');
  const otherParamsSel = r.u8('OtherParamsSelection');
  const measurementHashAlgo = r.u32('MeasurementHashAlgo');
  const baseAsymSel = r.u32('BaseAsymSel');
  const baseHashSel = r.u32('BaseHashSel');
  r.skip(12, 'Reserved');
  const extAsym = r.u8('ExtAsymSelCount');
  const extHash = r.u8('ExtHashSelCount');
  r.skip(2, 'Reserved');
  if (extAsym !== 0 || extHash !== 0) throw new SpdmError('MALFORMED', 'ALGORITHMS: extended algorithms selected');
  const tables = parseTables(r, h.param1, 'ALGORITHMS', false);
  r.end();
  return { measurementSpecSel, otherParamsSel, measurementHashAlgo, baseAsymSel, baseHashSel, tables };
}
