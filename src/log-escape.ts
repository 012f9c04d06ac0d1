/**
 * Text from the network or D-Bus (peer names, LLDP values, error texts) reaches the log. A log line
 * must show it, never be shaped by it: no forged line breaks, no text reordered by bidi controls
 * (U+202E), no invisible characters (U+200B) making two names look alike.
 */

/**
 * Every character a log line must not carry raw: Unicode categories Cc (controls, C0 and C1), Cf
 * (format: zero-width and bidi controls, U+FEFF, tags), Zl and Zp (U+2028, U+2029) and lone
 * surrogates (Cs).
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One unsafe character as visible text: `\n`, `\r`, `\t`, `\u202e`, or `\u{e0001}` beyond the BMP. */
function escapeChar(c: string): string {
  const short = SHORT[c];
  if (short) return short;
  const code = c.codePointAt(0) ?? 0;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A text as it may appear in a log line: every control, format and separator character escaped. */
export function escapeForLog(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** Longest text quoted back in a log line: hostile values are cut, never logged whole. */
const QUOTE_MAX = 64;

/** A value quoted for a log line or an error text: in double quotes, escaped, cut at 64 characters. */
export function quoteForLog(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  const cut = text.length > QUOTE_MAX ? `${text.slice(0, QUOTE_MAX)}…` : text;
  return escapeForLog(JSON.stringify(cut));
}
