// Part of `pnpm build` (scripts/build.mjs): makes the bundle's module wrappers part of V8's compile
// cache.
//
// esbuild wraps each bundled CommonJS module (dbus-next, winston, …) and each lazily initialised ES
// module in an arrow function: `var r=I((e,t)=>{…module body…})`. V8 compiles such a function
// only when it is first called, and Node's compile cache (NODE_COMPILE_CACHE) stores only what was
// compiled with the script: so every start parsed and compiled those module bodies again. A
// function expression in parentheses is one V8 expects to be called at once (its "PIFE"
// heuristic) and compiles with the script, so the cache holds it. This rewrites each top-level
// `var X=H((a,b)=>{…})` into `var X=H((function(a,b){…}))`, and shifts the source map to match.
//
// An arrow and a function differ only in `this`, `arguments`, `super` and `new.target`: a wrapper
// whose own body (not a function or class nested in it) uses any of them is left as it is.
import { parse } from 'acorn';

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Whether `node` (an arrow's body) uses this/arguments/super/new.target at the arrow's own level. */
function usesOwnBinding(node) {
  const stack = [node];
  while (stack.length) {
    const n = stack.pop();
    if (!n || typeof n.type !== 'string') continue;
    if (n.type === 'ThisExpression' || n.type === 'Super' || n.type === 'MetaProperty') return true;
    if (n.type === 'Identifier' && n.name === 'arguments') return true;
    // Ordinary functions bind their own; a class body's methods and fields do too, but its
    // `extends` and computed keys are evaluated in the enclosing scope.
    if (n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression') continue;
    if (n.type === 'ClassDeclaration' || n.type === 'ClassExpression') {
      stack.push(n.superClass);
      for (const m of n.body.body) if (m.computed) stack.push(m.key);
      continue;
    }
    for (const [key, value] of Object.entries(n)) {
      if (key === 'start' || key === 'end') continue;
      if (Array.isArray(value)) stack.push(...value);
      else if (value && typeof value === 'object') stack.push(value);
    }
  }
  return false;
}

/**
 * The edits that turn each top-level wrapper into a parenthesised function expression, as
 * insertions (`at`, `text`) and deletions (`at`, `length`) in `code`, in order.
 */
export function wrapperEdits(code) {
  const program = parse(code, { ecmaVersion: 'latest', sourceType: 'module' });
  const edits = [];
  for (const statement of program.body) {
    if (statement.type !== 'VariableDeclaration') continue;
    for (const d of statement.declarations) {
      const call = d.init;
      if (call?.type !== 'CallExpression' || call.callee.type !== 'Identifier' || call.arguments.length !== 1) continue;
      const arrow = call.arguments[0];
      if (arrow.type !== 'ArrowFunctionExpression' || arrow.async || arrow.body.type !== 'BlockStatement' || arrow.params.length > 2) continue;
      if (usesOwnBinding(arrow.body)) continue;
      const arrowToken = code.indexOf('=>', arrow.params.at(-1)?.end ?? arrow.start);
      if (arrowToken < 0 || arrowToken > arrow.body.start) continue;
      // `(e,t)=>{…}` and `e=>{…}`: the parameter list is kept as it is, with parentheses added
      // around a lone unparenthesised one.
      const bare = code[arrow.start] !== '(';
      edits.push({ at: arrow.start, text: bare ? '(function(' : '(function' });
      if (bare) edits.push({ at: arrowToken, text: ')' });
      edits.push({ at: arrowToken, length: 2 });
      edits.push({ at: arrow.end, text: ')' });
    }
  }
  return edits.sort((a, b) => a.at - b.at || (a.length ? 1 : 0) - (b.length ? 1 : 0));
}

/** `code` with `edits` (from wrapperEdits) applied. */
export function applyEdits(code, edits) {
  let out = '';
  let pos = 0;
  for (const e of edits) {
    out += code.slice(pos, e.at);
    pos = e.at;
    if (e.text !== undefined) out += e.text;
    else pos += e.length;
  }
  return out + code.slice(pos);
}

function decodeVlq(s, i) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const digit = BASE64.indexOf(s[i++] ?? '');
    if (digit < 0) throw new Error('source map: bad VLQ');
    value += (digit & 31) << shift;
    shift += 5;
    if ((digit & 32) === 0) break;
  }
  return { value: value & 1 ? -(value >>> 1) : value >>> 1, next: i };
}

function encodeVlq(n) {
  let v = n < 0 ? (-n << 1) | 1 : n << 1;
  let out = '';
  do {
    let digit = v & 31;
    v >>>= 5;
    if (v > 0) digit |= 32;
    out += BASE64[digit];
  } while (v > 0);
  return out;
}

/**
 * The source map `map` (JSON object, version 3) of `code`, for the code with `edits` applied: each
 * generated column moves by what was inserted or deleted before it on its line. Only the columns
 * change; the segments, and what they point to, stay as they are.
 */
export function shiftMap(map, code, edits) {
  const lineStarts = [0];
  for (let i = code.indexOf('\n'); i >= 0; i = code.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const lineOf = (at) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  /** Per line: [column, delta] of each edit on it, in column order. */
  const shifts = new Map();
  for (const e of edits) {
    const line = lineOf(e.at);
    const list = shifts.get(line) ?? [];
    // A deletion moves what follows the deleted text, an insertion what was at its column.
    list.push(e.text !== undefined ? [e.at - (lineStarts[line] ?? 0), e.text.length] : [e.at - (lineStarts[line] ?? 0) + e.length, -e.length]);
    shifts.set(line, list);
  }
  const lines = map.mappings.split(';');
  for (const [line, list] of shifts) {
    const text = lines[line];
    if (!text) continue;
    let column = 0;
    let previous = 0;
    lines[line] = text
      .split(',')
      .map((segment) => {
        const { value, next } = decodeVlq(segment, 0);
        column += value;
        const moved = column + list.reduce((sum, [at, delta]) => (at <= column ? sum + delta : sum), 0);
        const out = encodeVlq(moved - previous) + segment.slice(next);
        previous = moved;
        return out;
      })
      .join(',');
  }
  return { ...map, mappings: lines.join(';') };
}

/** One output file's code and its source map after the rewrite; both unchanged when there is nothing to rewrite. */
export function eagerModuleWrappers({ code, map }) {
  const edits = wrapperEdits(code);
  if (!edits.length) return { code, map, wrappers: 0 };
  return { code: applyEdits(code, edits), map: map ? shiftMap(map, code, edits) : map, wrappers: edits.filter((e) => e.text?.startsWith('(function')).length };
}
