// Part of `pnpm build` (scripts/build.mjs): in the code a program loads before its first line runs,
// Node's built-in modules are taken with require(), not with an import statement.
//
// An ES module that imports a built-in (`import { readFileSync } from 'node:fs'`) gets it through
// the built-in's ES module facade, which Node builds by reading every export of the module: the
// lazy ones too, each loading and compiling more of Node's own modules. `node:crypto` loads WebCrypto,
// `node:util` its diff engine, `node:worker_threads` the worker machinery, none of them used by the
// start: 12 more of Node's modules, about 6 ms of a cold start. require() returns the module's
// object without reading its exports. The `require` each bundled file has (build.mjs's banner,
// createRequire) takes each built-in import of those files: `import{a as b}from"node:fs"` becomes
// `const{a:b}=require("node:fs")`, `import c from"node:fs"` and `import*as c from"node:fs"`
// `const c=require("node:fs")`. The built-ins' exports are never reassigned, so what a live binding
// would see is what the constant holds; esbuild writes every import at the top of its file, so each
// constant is set before any other code of the file runs.
import { parse } from 'acorn';

/**
 * Whether an import's source names one of Node's built-ins (as esbuild leaves them: `node:…`)
 * other than `node:module`, whose import makes the file's `require` (build.mjs's banner).
 */
const isBuiltin = (source) => typeof source === 'string' && source.startsWith('node:') && source !== 'node:module';

/**
 * The edits (scripts/eager-module-wrappers.mjs's form) that turn each import statement of a
 * built-in in `code` into a constant taken with `require`. Imports without a binding
 * (`import"node:x"`) are left as they are.
 */
export function builtinRequireEdits(code) {
  const program = parse(code, { ecmaVersion: 'latest', sourceType: 'module' });
  const edits = [];
  for (const statement of program.body) {
    if (statement.type !== 'ImportDeclaration' || !isBuiltin(statement.source.value) || !statement.specifiers.length) continue;
    const from = `require(${JSON.stringify(statement.source.value)})`;
    const named = [];
    const whole = [];
    for (const s of statement.specifiers) {
      if (s.type === 'ImportSpecifier') {
        if (s.imported.type !== 'Identifier') throw new Error(`import of ${statement.source.value}: a string-named import is not supported`);
        named.push(s.imported.name === s.local.name ? s.local.name : `${s.imported.name}:${s.local.name}`);
      } else whole.push(s.local.name);
    }
    const declarations = [...whole.map((name) => `${name}=${from}`), ...(named.length ? [`{${named.join(',')}}=${from}`] : [])];
    edits.push({ at: statement.start, length: statement.end - statement.start });
    edits.push({ at: statement.end, text: `const ${declarations.join(',')};` });
  }
  return edits;
}
