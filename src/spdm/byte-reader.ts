import { SpdmError } from './spdm-error.ts';

/**
 * Reads little-endian fields from one message and refuses to read past its end: every length an
 * attacker controls goes through here, so no parser can index out of bounds.
 */
export class ByteReader {
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    /** Names the message in error reasons. */
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (!Number.isInteger(n) || n < 0) throw new SpdmError('MALFORMED', `${this.what}: bad length for ${field}`);
    if (n > this.remaining) {
      throw new SpdmError('TRUNCATED', `${this.what}: ${field} needs ${n} bytes, ${this.remaining} left`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    const v = this.buf[this.pos] ?? 0;
    this.pos += 1;
    return v;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = (this.buf[this.pos] ?? 0) | ((this.buf[this.pos + 1] ?? 0) << 8);
    this.pos += 2;
    return v;
  }

  u24(field: string): number {
    this.need(3, field);
    const v = (this.buf[this.pos] ?? 0) | ((this.buf[this.pos + 1] ?? 0) << 8) | ((this.buf[this.pos + 2] ?? 0) << 16);
    this.pos += 3;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v =
      ((this.buf[this.pos] ?? 0) |
        ((this.buf[this.pos + 1] ?? 0) << 8) |
        ((this.buf[this.pos + 2] ?? 0) << 16) |
        ((this.buf[this.pos + 3] ?? 0) << 24)) >>>
      0;
    this.pos += 4;
    return v;
  }

  /** A copy of the next n bytes. */
  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const v = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }

  /** The message must end here: trailing bytes are refused, not ignored. */
  end(): void {
    if (this.remaining !== 0) {
      throw new SpdmError('OVERSIZED', `${this.what}: ${this.remaining} unexpected trailing bytes`);
    }
  }
}

/** Builds a little-endian message field by field. */
export class ByteWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  u8(v: number): this {
    return this.push(Uint8Array.of(v & 0xff));
  }

  u16(v: number): this {
    return this.push(Uint8Array.of(v & 0xff, (v >>> 8) & 0xff));
  }

  u24(v: number): this {
    return this.push(Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff));
  }

  u32(v: number): this {
    return this.push(Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff));
  }

  bytes(b: Uint8Array): this {
    return this.push(b);
  }

  zeros(n: number): this {
    return this.push(new Uint8Array(n));
  }

  get length(): number {
    return this.size;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const w = new ByteWriter();
  for (const p of parts) w.bytes(p);
  return w.finish();
}
