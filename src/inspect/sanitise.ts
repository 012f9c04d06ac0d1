/**
 * What the inspector shows of a context or an event: plain JSON data with every secret-looking
 * field redacted. PINs, keys and nonces never reach the page or the Stately stream; actor refs,
 * functions and error stacks are never serialised.
 */

/** The replacement of a redacted value: the field stays visible, its value does not. */
export const REDACTED = '[redacted]';

/** Whole words (of camelCase / snake_case / kebab-case names) that mark a field as secret. */
const SECRET_WORDS = new Set([
  'pin',
  'pins',
  'sopin',
  'userpin',
  'key',
  'keys',
  'privkey',
  'token',
  'secret',
  'secrets',
  'private',
  'nonce',
  'nonces',
  'password',
  'passwords',
  'passwd',
  'passphrase',
  'credential',
  'credentials',
  'cookie',
  'authorization',
]);

/** Fragments that mark a field as secret wherever they appear in its name (`newPassword`, `caPrivkey`). */
const SECRET_FRAGMENTS = ['password', 'passwd', 'passphrase', 'secret', 'privkey', 'private', 'nonce'];

/** Splits a field name into lower-case words: `pinFile` → pin, file; `PRIVATE_KEY` → private, key. */
function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/** True for a field name that looks like it holds a secret. */
export function isSecretField(name: string): boolean {
  const lower = name.toLowerCase();
  if (SECRET_FRAGMENTS.some((f) => lower.includes(f))) return true;
  return wordsOf(name).some((w) => SECRET_WORDS.has(w));
}

const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Limits that keep one snapshot small on the page, whatever a context holds. */
export interface SanitiseLimits {
  /** Nesting depth below which values are replaced by `[…]`. */
  readonly depth: number;
  readonly arrayItems: number;
  readonly stringLength: number;
  /** Functions become `{ type: name }` (XState definitions name guards/actions that way; built-in actions by their `type`) instead of vanishing. */
  readonly functionsAsType: boolean;
}

const DEFAULT_LIMITS: SanitiseLimits = { depth: 8, arrayItems: 100, stringLength: 2000, functionsAsType: false };

/**
 * What a function in a machine definition is called: an XState built-in action (raise, assign,
 * sendTo…) by its `type` (`xstate.raise`, as XState's own definitions show it), any other by its
 * name. The bundle keeps no function names in the code loaded at start (xstate's among them).
 */
function functionType(fn: { name: string }): string {
  const type = (fn as { type?: unknown }).type;
  return typeof type === 'string' && type ? type : fn.name || 'anonymous';
}

function isActorRef(value: object): value is { id?: unknown; sessionId: unknown } {
  const v = value as Record<string, unknown>;
  return typeof v['sessionId'] === 'string' && typeof v['send'] === 'function' && typeof v['getSnapshot'] === 'function';
}

function sanitiseString(s: string, limits: SanitiseLimits): string {
  if (PRIVATE_KEY_PEM.test(s)) return REDACTED;
  return s.length > limits.stringLength ? `${s.slice(0, limits.stringLength)}… (${s.length} characters)` : s;
}

/** A JSON value: what the sanitiser returns. */
export type SafeJson = null | boolean | number | string | SafeJson[] | { [key: string]: SafeJson };

/**
 * Turns any value into plain JSON data safe to show: secret-looking fields redacted, private-key
 * PEM text redacted wherever it appears, binary data reduced to its length, errors to name and
 * first line of message, actor refs to their id, functions and symbols dropped, cycles and depth cut.
 */
export function sanitise(value: unknown, limits: Partial<SanitiseLimits> = {}): SafeJson | undefined {
  const lim: SanitiseLimits = { ...DEFAULT_LIMITS, ...limits };
  const seen = new WeakSet<object>();

  const walk = (v: unknown, depth: number): SafeJson | undefined => {
    switch (typeof v) {
      case 'undefined':
      case 'symbol':
        return undefined;
      case 'function':
        return lim.functionsAsType ? { type: functionType(v) } : undefined;
      case 'boolean':
        return v;
      case 'number':
        return Number.isFinite(v) ? v : String(v);
      case 'bigint':
        return v.toString();
      case 'string':
        return sanitiseString(v, lim);
      default:
        break;
    }
    if (v === null) return null;
    const obj = v as object;
    if (isActorRef(obj)) return `[actor ${String(obj.id ?? obj.sessionId)}]`;
    if (obj instanceof Error) {
      const first = (obj.message ?? '').split('\n')[0] ?? '';
      const code = (obj as { code?: unknown }).code;
      return { name: obj.name, message: sanitiseString(first, lim), ...(typeof code === 'string' ? { code } : {}) };
    }
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
    if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) return `[${obj.byteLength} bytes]`;
    if (seen.has(obj)) return '[circular]';
    if (depth >= lim.depth) return '[…]';
    seen.add(obj);
    try {
      if (Array.isArray(obj) || obj instanceof Set) {
        const items = [...obj];
        const out = items.slice(0, lim.arrayItems).map((item) => walk(item, depth + 1) ?? null);
        if (items.length > lim.arrayItems) out.push(`… ${items.length - lim.arrayItems} more`);
        return out;
      }
      const entries: Array<[string, unknown]> =
        obj instanceof Map
          ? [...obj.entries()].map(([k, val]) => [String(k), val])
          : isPlainObject(obj)
            ? Object.entries(obj)
            : [];
      if (!(obj instanceof Map) && !isPlainObject(obj)) return `[${obj.constructor?.name ?? 'object'}]`;
      const out: { [key: string]: SafeJson } = {};
      for (const [k, val] of entries) {
        if (isSecretField(k)) {
          out[k] = REDACTED;
          continue;
        }
        const s = walk(val, depth + 1);
        if (s !== undefined) out[k] = s;
      }
      return out;
    } finally {
      seen.delete(obj);
    }
  };
  return walk(value, 0);
}

function isPlainObject(o: object): boolean {
  const proto = Object.getPrototypeOf(o);
  return proto === Object.prototype || proto === null;
}
