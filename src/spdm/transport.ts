// Framing on a TCP stream. "tcp": DSP0287 (SPDM over TCP) — PayloadLength (u16 little-endian,
// the bytes after this field), BindingVersion 0x01, MessageType 0x05 (out of session), then the
// SPDM message. "emu": DMTF spdm-emu's socket header around that frame — Command, TransportType
// (3 = TCP) and PayloadSize, each a big-endian u32.
import { ByteWriter } from './byte-reader.ts';
import { SpdmError } from './spdm-error.ts';

/** Which framing a connection uses. */
export type SpdmTransport = 'tcp' | 'emu';

export const BINDING_VERSION = 0x01;
export const MESSAGE_TYPE_OUT_OF_SESSION = 0x05;
export const MESSAGE_TYPE_IN_SESSION = 0x06;
/** DSP0287 binding error: message too large. */
export const MESSAGE_TYPE_ERROR_TOO_LARGE = 0xc0;
/** DSP0287 binding error: message type not supported. */
export const MESSAGE_TYPE_ERROR_NOT_SUPPORTED = 0xc1;

/** spdm-emu socket commands. */
export const EmuCommand = { NORMAL: 0x0001, CONTINUE: 0xfffd, SHUTDOWN: 0xfffe, UNKNOWN: 0xffff, TEST: 0xdead } as const;
export const EMU_TRANSPORT_TCP = 0x03;
/** The greeting spdm_requester_emu sends and the reply spdm_responder_emu gives (NUL included). */
export const EMU_CLIENT_HELLO = new TextEncoder().encode('Client Hello!\0');
export const EMU_SERVER_HELLO = new TextEncoder().encode('Server Hello!\0');

/** The largest SPDM message a DSP0287 frame can carry. */
export const MAX_FRAME_MESSAGE = 0xffff - 2;

/** One DSP0287 frame around an SPDM message (or a binding-level message with no payload). */
export function encodeTcpFrame(message: Uint8Array, messageType: number = MESSAGE_TYPE_OUT_OF_SESSION): Uint8Array {
  if (message.length > MAX_FRAME_MESSAGE) throw new SpdmError('OVERSIZED', `SPDM message of ${message.length} bytes exceeds a DSP0287 frame`);
  const payloadLength = messageType >= MESSAGE_TYPE_ERROR_TOO_LARGE ? 0 : message.length + 2;
  return new ByteWriter().u16(payloadLength).u8(BINDING_VERSION).u8(messageType).bytes(message).finish();
}

function u32be(v: number): Uint8Array {
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/** spdm-emu's socket header around a payload. */
export function encodeEmuPacket(command: number, payload: Uint8Array): Uint8Array {
  return new ByteWriter().bytes(u32be(command)).bytes(u32be(EMU_TRANSPORT_TCP)).bytes(u32be(payload.length)).bytes(payload).finish();
}

/** An SPDM message framed for `transport`. */
export function encodeFrame(transport: SpdmTransport, message: Uint8Array): Uint8Array {
  const frame = encodeTcpFrame(message);
  return transport === 'tcp' ? frame : encodeEmuPacket(EmuCommand.NORMAL, frame);
}

/** What the stream decoder yields. */
export type Frame =
  | { readonly kind: 'spdm'; readonly message: Uint8Array }
  | { readonly kind: 'binding'; readonly messageType: number }
  | { readonly kind: 'emu'; readonly command: number; readonly payload: Uint8Array };

function readU32be(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}

/** Parses one complete DSP0287 frame (exactly its bytes). */
export function parseTcpFrame(frame: Uint8Array): Frame {
  if (frame.length < 4) throw new SpdmError('TRUNCATED', `DSP0287 frame of ${frame.length} bytes`);
  const payloadLength = (frame[0] ?? 0) | ((frame[1] ?? 0) << 8);
  const version = frame[2] ?? 0;
  const type = frame[3] ?? 0;
  if (version !== BINDING_VERSION) throw new SpdmError('MALFORMED', `DSP0287 binding version ${version}`);
  if (type >= MESSAGE_TYPE_ERROR_TOO_LARGE || type === 0xbf) {
    if (payloadLength !== 0 || frame.length !== 4) throw new SpdmError('MALFORMED', 'DSP0287 binding message with a payload');
    return { kind: 'binding', messageType: type };
  }
  if (payloadLength + 2 !== frame.length) throw new SpdmError('MALFORMED', `DSP0287 PayloadLength ${payloadLength} but ${frame.length - 2} bytes`);
  if (type !== MESSAGE_TYPE_OUT_OF_SESSION) throw new SpdmError('MALFORMED', `DSP0287 message type 0x${type.toString(16)} (sessions are not supported)`);
  return { kind: 'spdm', message: frame.slice(4) };
}

/**
 * Cuts a TCP byte stream into frames. Between pushes it holds only the bytes of one incomplete
 * frame of at most `maxMessage` SPDM bytes (a header announcing more is refused before its body is
 * read: OVERSIZED), so a peer can never make us buffer more than that; a push that stops at its
 * `maxFrames` also keeps the rest of its chunk, undecoded. Decoding is linear in the bytes pushed:
 * frames are read at an offset, and what is left is copied once per push.
 */
export class FrameDecoder {
  private buf: Uint8Array = new Uint8Array(0);
  /** Where the next frame starts in `buf`. */
  private at = 0;
  constructor(
    private readonly transport: SpdmTransport,
    private readonly maxMessage: number,
  ) {}

  /** Bytes received but not yet returned as a frame (a partial frame at close is a truncated message). */
  get pending(): number {
    return this.buf.length - this.at;
  }

  /**
   * Appends `chunk` and returns the frames it completes, at most `maxFrames` of them (a caller that
   * will refuse more than that stops paying for them here); the bytes after the last frame
   * returned are kept for the next push.
   */
  push(chunk: Uint8Array, maxFrames = Number.POSITIVE_INFINITY): Frame[] {
    if (this.pending === 0) {
      // A plain Uint8Array over the chunk's bytes: a Buffer's slice() would be a view, not a copy.
      this.buf = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    } else {
      const joined = new Uint8Array(this.pending + chunk.length);
      joined.set(this.buf.subarray(this.at));
      joined.set(chunk, this.pending);
      this.buf = joined;
    }
    this.at = 0;
    const out: Frame[] = [];
    try {
      while (out.length < maxFrames) {
        const f = this.transport === 'tcp' ? this.nextTcp() : this.nextEmu();
        if (!f) break;
        out.push(f);
      }
    } finally {
      // Once per push: keep a copy of what is left (never a view that pins the whole chunk).
      this.buf = this.at < this.buf.length ? this.buf.slice(this.at) : new Uint8Array(0);
      this.at = 0;
    }
    return out;
  }

  /** The next `n` bytes (a view: parseTcpFrame and nextEmu copy what they keep). */
  private take(n: number): Uint8Array {
    const f = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return f;
  }

  private nextTcp(): Frame | undefined {
    const b = this.buf;
    const at = this.at;
    if (this.pending < 2) return undefined;
    const payloadLength = (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
    const type = this.pending >= 4 ? b[at + 3] : undefined;
    const isBinding = type !== undefined && (type >= MESSAGE_TYPE_ERROR_TOO_LARGE || type === 0xbf) && payloadLength === 0;
    const total = isBinding ? 4 : payloadLength + 2;
    if (!isBinding && payloadLength < 2) {
      if (this.pending < 4) return undefined;
      throw new SpdmError('MALFORMED', `DSP0287 PayloadLength ${payloadLength} is shorter than its header`);
    }
    if (total - 4 > this.maxMessage) throw new SpdmError('OVERSIZED', `DSP0287 frame announces ${total - 4} bytes, limit ${this.maxMessage}`);
    if (this.pending < total) return undefined;
    return parseTcpFrame(this.take(total));
  }

  private nextEmu(): Frame | undefined {
    if (this.pending < 12) return undefined;
    const command = readU32be(this.buf, this.at);
    const transportType = readU32be(this.buf, this.at + 4);
    const size = readU32be(this.buf, this.at + 8);
    if (transportType !== EMU_TRANSPORT_TCP && !(transportType === 0 && command !== EmuCommand.NORMAL)) {
      throw new SpdmError('MALFORMED', `spdm-emu transport type ${transportType} (expected 3, TCP)`);
    }
    if (size > this.maxMessage + 4) throw new SpdmError('OVERSIZED', `spdm-emu packet announces ${size} bytes, limit ${this.maxMessage + 4}`);
    if (this.pending < 12 + size) return undefined;
    const packet = this.take(12 + size);
    const payload = packet.subarray(12);
    if (command !== EmuCommand.NORMAL) return { kind: 'emu', command, payload: payload.slice() };
    return parseTcpFrame(payload);
  }
}
