import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LineFramer, MAX_LINE_BYTES, lineOf, printableLine, wordOf } from '../../src/tls/line-protocol.ts';

const bytes = (s: string) => Buffer.from(s, 'latin1');

describe('line framing of the peer-link protocol', () => {
  it('reassembles a line split over many reads, one byte at a time', () => {
    const f = new LineFramer();
    const got: string[] = [];
    for (const ch of 'Hello\nping\n') got.push(...f.push(bytes(ch)).lines);
    assert.deepEqual(got, ['Hello', 'ping']);
  });

  it('splits coalesced writes into their lines and keeps the unfinished tail', () => {
    const f = new LineFramer();
    assert.deepEqual(f.push(bytes('Hello\nping\npi')), { lines: ['Hello', 'ping'], overflow: false });
    assert.deepEqual(f.push(bytes('ng\n')), { lines: ['ping'], overflow: false });
  });

  it('accepts a line of exactly 256 bytes and refuses 257, with or without its newline', () => {
    assert.deepEqual(new LineFramer().push(bytes(`${'a'.repeat(MAX_LINE_BYTES)}\n`)).lines, ['a'.repeat(MAX_LINE_BYTES)]);
    assert.equal(new LineFramer().push(bytes(`${'a'.repeat(MAX_LINE_BYTES + 1)}\n`)).overflow, true);
    const f = new LineFramer();
    assert.equal(f.push(bytes('a'.repeat(200))).overflow, false);
    assert.equal(f.push(bytes('a'.repeat(57))).overflow, true, 'an unfinished line over the limit is refused before its newline');
  });

  it('any stream, cut into any reads: exactly the lines before the first one over the limit, in order, then broken for good', () => {
    // Lines of any bytes but the newline, some over the limit, an unfinished tail, and the cuts.
    // Short ones, and ones at the limit, one byte either side of it, or far over it.
    const byte = fc.integer({ min: 0, max: 255 }).filter((b) => b !== 0x0a);
    const ofLength = (min: number, max: number) => fc.array(byte, { minLength: min, maxLength: max }).map((a) => Buffer.from(a));
    const line = fc.oneof(ofLength(0, 8), ofLength(MAX_LINE_BYTES - 1, MAX_LINE_BYTES + 1), ofLength(0, 2 * MAX_LINE_BYTES));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), line, fc.array(fc.nat(), { maxLength: 20 }), (lines, tail, cutsRaw) => {
        const stream = Buffer.concat([...lines.flatMap((l) => [l, Buffer.from('\n')]), tail]);
        const cuts = [...new Set(cutsRaw.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const firstLong = lines.findIndex((l) => l.length > MAX_LINE_BYTES);
        const expected = (firstLong === -1 ? lines : lines.slice(0, firstLong)).map((l) => l.toString('latin1'));
        const mustBreak = firstLong !== -1 || tail.length > MAX_LINE_BYTES;
        const f = new LineFramer();
        const got: string[] = [];
        let broken = false;
        let from = 0;
        for (const to of [...cuts, stream.length]) {
          const r = f.push(stream.subarray(from, to));
          from = to;
          if (broken) assert.deepEqual(r, { lines: [], overflow: true }, 'once broken, nothing more is read');
          got.push(...r.lines);
          broken ||= r.overflow;
        }
        assert.deepEqual(got, expected);
        assert.equal(broken, mustBreak);
      }),
      { numRuns: 500 },
    );
  });

  it('stops at the first overflow of a 1 MB line and stays broken', () => {
    const f = new LineFramer();
    const r = f.push(Buffer.concat([bytes('ping\n'), Buffer.alloc(1024 * 1024, 0x41)]));
    assert.deepEqual(r, { lines: ['ping'], overflow: true });
    assert.deepEqual(f.push(bytes('ping\n')), { lines: [], overflow: true });
  });

  it('knows exactly the three words, with no trimming or case folding', () => {
    assert.equal(wordOf('Hello'), 'Hello');
    assert.equal(wordOf('ping'), 'ping');
    assert.equal(wordOf('alive'), 'alive');
    for (const other of ['hello', 'ping\r', ' ping', 'PING', '', 'bogus']) assert.equal(wordOf(other), undefined, other);
    assert.equal(lineOf('alive'), 'alive\n');
  });

  it('renders hostile lines printable and short for logs', () => {
    assert.equal(printableLine('\x00\x1b[2Jx'), '??[2Jx');
    assert.equal(printableLine('b'.repeat(40)), `${'b'.repeat(32)}…`);
  });
});
