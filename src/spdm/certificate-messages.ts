// GET_DIGESTS/DIGESTS and GET_CERTIFICATE/CERTIFICATE (DSP0274 1.2).
import { MAX_SLOTS, Req, Rsp, VERSION_12 } from './constants.ts';
import { bodyReader, headerWriter } from './message-header.ts';
import { SpdmError } from './spdm-error.ts';

export function encodeGetDigests(): Uint8Array {
  return headerWriter({ version: VERSION_12, code: Req.GET_DIGESTS, param1: 0, param2: 0 }).finish();
}

export function parseGetDigests(msg: Uint8Array): void {
  bodyReader(msg, 'GET_DIGESTS', Req.GET_DIGESTS, VERSION_12).r.end();
}

/** DIGESTS: one digest of each provisioned slot's certificate chain, in slot order. */
export interface Digests {
  readonly slotMask: number;
  readonly digests: readonly Uint8Array[];
}

export function popcount(v: number): number {
  let n = 0;
  for (let x = v; x; x &= x - 1) n++;
  return n;
}

export function encodeDigests(d: Digests): Uint8Array {
  const w = headerWriter({ version: VERSION_12, code: Rsp.DIGESTS, param1: 0, param2: d.slotMask });
  for (const x of d.digests) w.bytes(x);
  return w.finish();
}

export function parseDigests(msg: Uint8Array, hashSize: number): Digests {
  const { r, h } = bodyReader(msg, 'DIGESTS', Rsp.DIGESTS, VERSION_12);
  const slotMask = h.param2;
  if (slotMask === 0) throw new SpdmError('MALFORMED', 'DIGESTS: no slot provisioned');
  const digests: Uint8Array[] = [];
  for (let i = 0; i < popcount(slotMask); i++) digests.push(r.bytes(hashSize, 'Digest'));
  r.end();
  return { slotMask, digests };
}

/** GET_CERTIFICATE: a portion of a slot's chain. */
export interface GetCertificate {
  readonly slot: number;
  readonly offset: number;
  readonly length: number;
}

export function encodeGetCertificate(g: GetCertificate): Uint8Array {
  return headerWriter({ version: VERSION_12, code: Req.GET_CERTIFICATE, param1: g.slot, param2: 0 }).u16(g.offset).u16(g.length).finish();
}

export function parseGetCertificate(msg: Uint8Array): GetCertificate {
  const { r, h } = bodyReader(msg, 'GET_CERTIFICATE', Req.GET_CERTIFICATE, VERSION_12);
  const slot = h.param1 & 0xf;
  if (slot >= MAX_SLOTS || (h.param1 & 0xf0) !== 0) throw new SpdmError('MALFORMED', `GET_CERTIFICATE: slot ${h.param1}`);
  const offset = r.u16('Offset');
  const length = r.u16('Length');
  r.end();
  return { slot, offset, length };
}

/** CERTIFICATE: one portion and how much remains after it. */
export interface Certificate {
  readonly slot: number;
  readonly portion: Uint8Array;
  readonly remainder: number;
}

export function encodeCertificate(c: Certificate): Uint8Array {
  return headerWriter({ version: VERSION_12, code: Rsp.CERTIFICATE, param1: c.slot, param2: 0 })
    .u16(c.portion.length)
    .u16(c.remainder)
    .bytes(c.portion)
    .finish();
}

export function parseCertificate(msg: Uint8Array): Certificate {
  const { r, h } = bodyReader(msg, 'CERTIFICATE', Rsp.CERTIFICATE, VERSION_12);
  const portionLength = r.u16('PortionLength');
  const remainder = r.u16('RemainderLength');
  const portion = r.bytes(portionLength, 'CertChain');
  r.end();
  return { slot: h.param1 & 0xf, portion, remainder };
}
