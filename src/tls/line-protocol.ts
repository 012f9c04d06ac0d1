/**
 * The peer link's line protocol (docs/peer-link.md, "Line protocol"): one ASCII word per line ending in `\n`.
 * The client says `Hello`, then `ping` every keep-alive interval; the server answers each with `alive`.
 */

/** The longest line accepted, in bytes, not counting the `\n`. */
export const MAX_LINE_BYTES = 256;

/** The words of the protocol. */
export const WORDS = { hello: 'Hello', ping: 'ping', alive: 'alive' } as const;

/** One protocol word. */
export type Word = (typeof WORDS)[keyof typeof WORDS];

const KNOWN = new Set<string>(Object.values(WORDS));
const EMPTY = Buffer.alloc(0);

/** The bytes on the wire for a word. */
export function lineOf(word: Word): string {
  return `${word}\n`;
}

/** The word a line holds, or undefined for anything else (no trimming: `ping\r` is not `ping`). */
export function wordOf(line: string): Word | undefined {
  return KNOWN.has(line) ? (line as Word) : undefined;
}

/** A line (or any text from a peer) as it may appear in a log or reason: printable ASCII only, at most `max` characters (default 32). */
export function printableLine(line: string, max = 32): string {
  const shown = line.slice(0, max).replace(/[^\x20-\x7e]/g, '?');
  return line.length > max ? `${shown}…` : shown;
}

/** What one chunk of input produced: the complete lines, and whether the stream broke the limit. */
export interface FrameResult {
  readonly lines: readonly string[];
  /** Set when a line exceeded MAX_LINE_BYTES: the connection must be closed. */
  readonly overflow: boolean;
}

/**
 * Splits a byte stream into lines whatever the chunking: partial reads are kept until their `\n`
 * arrives, coalesced writes yield several lines. A line (or an unfinished tail) longer than the
 * limit is reported as soon as it is seen, so a 1 MB line is refused after its first 257 bytes.
 */
export class LineFramer {
  #tail: Buffer = EMPTY;
  #broken = false;
  readonly #max: number;

  constructor(maxLineBytes = MAX_LINE_BYTES) {
    this.#max = maxLineBytes;
  }

  push(chunk: Buffer): FrameResult {
    if (this.#broken) return { lines: [], overflow: true };
    const lines: string[] = [];
    let data = this.#tail.length ? Buffer.concat([this.#tail, chunk]) : chunk;
    for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a)) {
      if (nl > this.#max) return this.#overflow(lines);
      lines.push(data.toString('latin1', 0, nl));
      data = data.subarray(nl + 1);
    }
    if (data.length > this.#max) return this.#overflow(lines);
    this.#tail = data.length ? Buffer.from(data) : EMPTY;
    return { lines, overflow: false };
  }

  #overflow(lines: string[]): FrameResult {
    this.#broken = true;
    this.#tail = EMPTY;
    return { lines, overflow: true };
  }
}
