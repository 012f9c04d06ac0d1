import { errorMessage } from '../util/error-message.ts';

/**
 * Splits a text stream of concatenated JSON objects (what `lldpcli -f json0 watch` writes: each
 * event a pretty-printed object over many lines) into whole objects. Tracks brace depth outside
 * strings; a buffer above `maxBytes` is dropped, so a broken producer cannot fill memory.
 */
export class JsonObjectStream {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;

  constructor(
    private readonly onObject: (value: unknown) => void,
    private readonly onProblem: (message: string) => void,
    private readonly maxBytes = 4 * 1024 * 1024,
  ) {}

  /** Feeds the next chunk of text. */
  push(chunk: string): void {
    let scanFrom = this.buf.length;
    this.buf += chunk;
    for (let i = scanFrom; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"' && this.depth > 0) this.inString = true;
      else if (c === '{') {
        if (this.depth === 0) this.start = i;
        this.depth++;
      } else if (c === '}' && this.depth > 0) {
        this.depth--;
        if (this.depth === 0) {
          const text = this.buf.slice(this.start, i + 1);
          this.buf = this.buf.slice(i + 1);
          i = -1;
          scanFrom = 0;
          this.start = -1;
          try {
            this.onObject(JSON.parse(text));
          } catch (err) {
            this.onProblem(`unparsable JSON object (${text.length} bytes): ${errorMessage(err)}`);
          }
        }
      }
    }
    if (this.depth === 0) this.buf = '';
    if (this.buf.length > this.maxBytes) {
      this.onProblem(`a JSON object longer than ${this.maxBytes} bytes: dropped`);
      this.reset();
    }
  }

  /** Forgets any partial object (the producer restarted). */
  reset(): void {
    this.buf = '';
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.start = -1;
  }
}
