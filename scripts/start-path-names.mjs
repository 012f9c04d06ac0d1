// Part of `pnpm build` (scripts/build.mjs): the code a program loads before its first line runs
// keeps no function names, everything loaded later keeps them.
//
// esbuild's keepNames gives every function and class the name it had in the source although
// minification renamed it: a call of its `__name(fn, "name")` helper (Object.defineProperty) after
// each declaration, and around each function expression in an inner scope, run again each time that
// scope runs. Some code loaded later reads those names (@peculiar/asn1-schema compares
// `constructor.name` with "Sequence" when it parses a certificate; prom-client counts handles by
// class name; the inspector shows class instances by their class name), so the bundle is built with
// keepNames. Nothing loaded at start reads them (xstate names inline actions by their key, errors
// carry an explicit `name`), yet there the helper ran thousands of times (xstate's actor start, zod's
// schemas, winston, dbus-next): about 10 ms of a 140 ms cold start. In each file of a program's
// static import graph, this turns the helper's import into a local identity function: its calls
// stay where they are and do nothing, so the file's code and its source map change only on the
// import line. A file also loaded later (through import()) is in that graph too: code that reads
// names must not share a chunk with the start, which esbuild keeps apart as long as it is loaded
// with import() only (test/unit/start-path-names.test.ts checks what a build leaves named).
import { parse } from 'acorn';

/**
 * The name under which a chunk exports esbuild's `__name` helper, `(a,b)=>D(a,"name",{value:b,…})`
 * with D = Object.defineProperty, or undefined if it does not.
 */
export function nameHelperExport(code) {
  const program = parse(code, { ecmaVersion: 'latest', sourceType: 'module' });
  const helpers = new Set();
  for (const statement of program.body) {
    if (statement.type !== 'VariableDeclaration') continue;
    for (const d of statement.declarations) {
      const fn = d.init;
      if (d.id.type !== 'Identifier' || fn?.type !== 'ArrowFunctionExpression' || fn.params.length !== 2) continue;
      const call = fn.body;
      if (call.type !== 'CallExpression' || call.arguments.length !== 3) continue;
      const [target, key] = call.arguments;
      if (target?.type === 'Identifier' && target.name === fn.params[0]?.name && key?.type === 'Literal' && key.value === 'name') helpers.add(d.id.name);
    }
  }
  for (const statement of program.body) {
    if (statement.type !== 'ExportNamedDeclaration' || statement.source) continue;
    for (const s of statement.specifiers) {
      if (s.local.type === 'Identifier' && helpers.has(s.local.name) && s.exported.type === 'Identifier') return s.exported.name;
    }
  }
  return undefined;
}

/**
 * The edits (scripts/eager-module-wrappers.mjs's form) that replace the import of `exportName`
 * from a module whose specifier ends with `/<runtimeFile>` by a hoisted local identity function of
 * the same name: `import{a as o,b as j}from"./r.js"` becomes
 * `import{b as j}from"./r.js";function o(f){return f}`.
 */
export function nameHelperEdits(code, { runtimeFile, exportName }) {
  const program = parse(code, { ecmaVersion: 'latest', sourceType: 'module' });
  const edits = [];
  for (const statement of program.body) {
    if (statement.type !== 'ImportDeclaration' || !String(statement.source.value).endsWith(`/${runtimeFile}`)) continue;
    const specifiers = statement.specifiers;
    const k = specifiers.findIndex((s) => s.type === 'ImportSpecifier' && s.imported.type === 'Identifier' && s.imported.name === exportName);
    const found = specifiers[k];
    if (!found) continue;
    if (specifiers.length === 1) {
      // `import{a as o}from"./r.js"` → `import"./r.js"`: the module is still loaded, in the same order.
      edits.push({ at: statement.start + 'import'.length, length: statement.source.start - statement.start - 'import'.length });
    } else {
      // The specifier and the comma that separates it from its neighbour.
      const next = specifiers[k + 1];
      const previous = specifiers[k - 1];
      if (next) edits.push({ at: found.start, length: next.start - found.start });
      else if (previous) edits.push({ at: previous.end, length: found.end - previous.end });
    }
    edits.push({ at: statement.end, text: `${code[statement.end - 1] === ';' ? '' : ';'}function ${found.local.name}(f){return f}` });
  }
  return edits.sort((a, b) => a.at - b.at || (a.length ? 1 : 0) - (b.length ? 1 : 0));
}

/**
 * The source files that read function or class names, as esbuild's metafile names their paths:
 * loaded at start, they would run with the names gone (see above).
 */
export const NAME_READERS = [/(^|\/)node_modules\/@peculiar\/asn1-schema\//, /(^|\/)node_modules\/prom-client\//, /(^|\/)src\/inspect\//];

/**
 * Each input matching one of `readers` that an output file in `atStart` holds, with that output
 * (sorted, empty when none): what the build refuses, so that a static import of such code fails the
 * build instead of a certificate parse at run time.
 */
export function nameReadersAtStart(metafile, atStart, readers = NAME_READERS) {
  const found = [];
  for (const output of atStart) {
    for (const input of Object.keys(metafile.outputs[output]?.inputs ?? {})) {
      if (readers.some((r) => r.test(input))) found.push({ output, input });
    }
  }
  return found.sort((a, b) => a.input.localeCompare(b.input) || a.output.localeCompare(b.output));
}
