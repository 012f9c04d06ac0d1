/**
 * The SPDM stream decoder (both framings) on what a socket delivers: thousands of frames in one
 * chunk with a partial frame at its end completed byte by byte, Buffer chunks that are reused
 * afterwards, and a frame limit per push that leaves the rest undecoded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EmuCommand, encodeEmuPacket, encodeFrame, encodeTcpFrame, type Frame, FrameDecoder, MESSAGE_TYPE_ERROR_NOT_SUPPORTED, type SpdmTransport } from '../../src/spdm/transport.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A frame as the tests compare it. */
const show = (f: Frame) => (f.kind === 'spdm' ? `spdm ${hex(f.message)}` : f.kind === 'binding' ? `binding ${f.messageType}` : `emu ${f.command} ${hex(f.payload)}`);

/** Message `i`: an SPDM request of 4 to 203 bytes whose bytes say which one it is. */
function message(i: number): Uint8Array {
  const m = new Uint8Array(4 + (i % 200));
  m[0] = 0x12;
  m[1] = 0x80 + (i % 0x7f);
  for (let k = 2; k < m.length; k++) m[k] = (i + k) & 0xff;
  return m;
}

/** `n` frames for `transport`, with binding messages (tcp) or spdm-emu commands (emu) among them, and what each decodes to. */
function stream(transport: SpdmTransport, n: number): { bytes: Uint8Array; expected: string[] } {
  const parts: Uint8Array[] = [];
  const expected: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 7 === 3) {
      if (transport === 'tcp') {
        parts.push(encodeTcpFrame(new Uint8Array(0), MESSAGE_TYPE_ERROR_NOT_SUPPORTED));
        expected.push(`binding ${MESSAGE_TYPE_ERROR_NOT_SUPPORTED}`);
      } else {
        const payload = Uint8Array.of(i & 0xff, 1, 2);
        parts.push(encodeEmuPacket(EmuCommand.TEST, payload));
        expected.push(`emu ${EmuCommand.TEST} ${hex(payload)}`);
      }
      continue;
    }
    parts.push(encodeFrame(transport, message(i)));
    expected.push(`spdm ${hex(message(i))}`);
  }
  return { bytes: Buffer.concat(parts), expected };
}

for (const transport of ['tcp', 'emu'] as const) {
  describe(`FrameDecoder, ${transport} framing`, () => {
    it('decodes 5000 frames from one chunk, then a frame left partial at its end from single bytes', () => {
      const { bytes, expected } = stream(transport, 5000);
      const last = encodeFrame(transport, message(4242));
      const cut = 5;
      const d = new FrameDecoder(transport, 4096);
      const first = d.push(Buffer.concat([bytes, last.subarray(0, cut)]));
      assert.deepEqual(first.map(show), expected);
      assert.equal(d.pending, cut, 'only the partial frame is held');
      const rest: Frame[] = [];
      for (let k = cut; k < last.length; k++) {
        rest.push(...d.push(last.subarray(k, k + 1)));
        assert.equal(d.pending, k + 1 < last.length ? k + 1 : 0);
      }
      assert.deepEqual(rest.map(show), [`spdm ${hex(message(4242))}`]);
    });

    it('returns frames that stay as they were when the chunk they came from is overwritten (sockets reuse nothing, callers might)', () => {
      const { bytes, expected } = stream(transport, 50);
      const chunk = Buffer.from(bytes);
      const d = new FrameDecoder(transport, 4096);
      const frames = d.push(chunk.subarray(0, chunk.length - 3));
      const tail = chunk.subarray(chunk.length - 3);
      const tailCopy = Buffer.from(tail);
      chunk.fill(0xee, 0, chunk.length - 3);
      assert.deepEqual(frames.map(show), expected.slice(0, -1));
      assert.deepEqual(d.push(tailCopy).map(show), expected.slice(-1), 'the partial frame kept is a copy too');
    });

    it('stops at maxFrames: the rest of the chunk stays undecoded (pending) until the next push', () => {
      const { bytes, expected } = stream(transport, 100);
      const d = new FrameDecoder(transport, 4096);
      const some = d.push(bytes, 33);
      assert.deepEqual(some.map(show), expected.slice(0, 33));
      assert.ok(d.pending > 0, 'the rest is held');
      assert.deepEqual(d.push(new Uint8Array(0)).map(show), expected.slice(33));
      assert.equal(d.pending, 0);
    });

    it('stops at maxFrames before a malformed frame further on, which only a later push reaches', () => {
      const { bytes, expected } = stream(transport, 10);
      const bad = transport === 'tcp' ? Uint8Array.of(0x01, 0x00, 0x01, 0x05) : encodeEmuPacket(EmuCommand.NORMAL, Uint8Array.of(0x01, 0x00, 0x01, 0x05)).fill(9, 4, 8);
      const d = new FrameDecoder(transport, 4096);
      assert.deepEqual(d.push(Buffer.concat([bytes, bad]), 10).map(show), expected);
      assert.throws(() => d.push(new Uint8Array(0)), /MALFORMED|PayloadLength|transport type/);
    });
  });
}
