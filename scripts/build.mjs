#!/usr/bin/env node
// `pnpm build`: bundles the three programs into dist/ (provisioningd.js, attestationd.js,
// lldp-bridge.js, plus dist/chunks/), minified for Node 22, what a BMC image ships (`pnpm package`
// lays it out, scripts/package.mjs). Source maps are written beside each file (<file>.js.map) and
// shipped apart from the bundles. `node dist/provisioningd.js --conf FILE` runs the daemon exactly
// like `pnpm -s provisioningd`.
// Code behind a dynamic import() (the inspector) goes into its own chunk, loaded only when
// inspect_port is set. Each worker thread's module (workerEntries) is an entry of its own,
// dist/<name>.js, which src/util/module-worker.ts starts in place of the .ts source. The
// inspector's layout engine, elkjs, is copied to dist/node_modules/elkjs: only the inspector's
// layout worker loads it, never the daemon's main thread.
// Each bundled module's wrapper is rewritten so that V8 compiles it with its script and NODE_COMPILE_CACHE
// holds it (scripts/eager-module-wrappers.mjs); the source maps are shifted to match.
// Functions and classes keep their source names (keepNames: some code loaded later reads them),
// except in the files a program loads before its first line runs, where nothing reads them and
// naming them cost about 10 ms of each start (scripts/start-path-names.mjs). Those files also take
// Node's built-ins with require() instead of an import statement, whose facade loads more of Node
// (scripts/builtin-requires.mjs).
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyEdits, eagerModuleWrappers, shiftMap } from './eager-module-wrappers.mjs';
import { builtinRequireEdits } from './builtin-requires.mjs';
import { reachableOutputs, startPath } from './output-graph.mjs';
import { nameHelperEdits, nameHelperExport, nameReadersAtStart } from './start-path-names.mjs';
import { XML2JS_INPUTS, xml2jsOnDemand, xml2jsPackage } from './xml2js-on-demand.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(repo, 'dist');
const outfile = join(outdir, 'provisioningd.js');
const chunkDir = join(outdir, 'chunks');

/**
 * Left out of the bundle and resolved from node_modules at run time:
 * - pkcs11js is a native addon (a .node file found through `bindings`). Only the PKCS#11 worker
 *   (dist/pkcs11-worker.js, with graphene-pk11 bundled into it) loads it, resolved from the bundle's
 *   location, so it ships in node_modules next to dist/ with its built addon.
 * - usocket (dbus-next, abstract sockets) and x11 (dbus-next, session-bus autolaunch) are optional
 *   requires inside try/catch that this daemon never reaches; they are not installed.
 * - bufferutil and utf-8-validate are ws's optional native speed-ups, required inside try/catch.
 */
const external = ['pkcs11js', 'usocket', 'x11', 'bufferutil', 'utf-8-validate'];

/** The inspector's dynamic import() target: only what this reaches (and nothing else does) is the inspector's part. */
const INSPECTOR_SOURCE = 'src/inspect/inspector.ts';

/**
 * Splits the output files into the two parts an image installs apart (dist/parts.json):
 * `daemons`, every file the programs and the PKCS#11 worker load (statically, or through a dynamic
 * import other than the inspector's, e.g. the metrics server), and `inspector`, the files only the
 * inspector reaches (its chunk, its layout worker, elkjs). The daemons run without the second.
 * `daemonExtras` are the daemons' files outside esbuild's output (xml2js). Paths are relative to
 * dist/; source maps are in neither.
 */
function splitParts(metafile, daemonExtras) {
  const outputs = metafile.outputs;
  const isInspector = (path) => outputs[path]?.entryPoint === INSPECTOR_SOURCE;
  const daemonRoots = [...Object.keys(programs), 'pkcs11-worker'].map((name) => `dist/${name}.js`);
  const daemons = reachableOutputs(metafile, daemonRoots, (imp) => !(imp.kind === 'dynamic-import' && isInspector(imp.path)));
  const js = Object.keys(outputs).filter((path) => path.endsWith('.js'));
  const rel = (path) => relative('dist', path);
  return {
    daemons: [...js.filter((path) => daemons.has(path)).map(rel), ...daemonExtras].sort(),
    inspector: [...js.filter((path) => !daemons.has(path)).map(rel), 'node_modules/elkjs/package.json', 'node_modules/elkjs/lib/elk.bundled.js'].sort(),
  };
}

/** Bundled CommonJS dependencies (dbus-next, winston, …) call require(); ESM has none, so make one. */
const banner = [
  "import { createRequire as __provisioningdCreateRequire } from 'node:module';",
  'const require = __provisioningdCreateRequire(import.meta.url);',
].join('\n');

/**
 * Worker threads' modules, each built as its own entry at the bundle's root under its base name
 * (src/inspect/elk-layout-worker.ts → dist/elk-layout-worker.js): src/util/module-worker.ts looks
 * for them there, and chunks go to dist/chunks/ (a name it knows too). Add a worker here when you
 * add one; module-worker.ts throws, naming this list, if a worker's entry is missing.
 */
const workerEntries = [
  'src/inspect/elk-layout-worker.ts',
  'src/pki/token/pkcs11-worker.ts',
];
/** The programs: what `node dist/<name>.js --conf FILE` runs. */
const programs = {
  provisioningd: 'src/main.ts',
  attestationd: 'src/attestationd/main.ts',
  'lldp-bridge': 'src/lldp/bridge-main.ts',
};
const workerNames = workerEntries.map((path) => basename(path, '.ts'));
const names = [...Object.keys(programs), ...workerNames];
if (new Set(names).size !== names.length) {
  console.error(`build: every entry needs its own base name (dist/<name>.js): ${names.join(', ')}`);
  process.exit(1);
}
const entryPoints = {
  ...programs,
  ...Object.fromEntries(workerEntries.map((path) => [basename(path, '.ts'), path])),
};

mkdirSync(outdir, { recursive: true });

/**
 * The build time the daemon compares its wall clock with (src/clock/build-time.ts): a clock before
 * it, less the skew allowance, is implausible. SOURCE_DATE_EPOCH (reproducible builds) wins.
 */
/*
 * NODE_ENV is "production" in the bundle, as in any production build: the only library that reads it,
 * winston's @dabh/diagnostics, then loads its no-op build instead of its development one (colour
 * tables and a console logger for DEBUG=winston:*), about 15 ms of every start.
 */
const buildTime = new Date(process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) * 1000 : Date.now()).toISOString();

let result;
try {
  result = await build({
    absWorkingDir: repo,
    entryPoints,
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    sourcemap: 'linked',
    keepNames: true,
    external,
    plugins: [xml2jsOnDemand(repo)],
    banner: { js: banner },
    define: { __PROVISIONINGD_BUILD_TIME__: JSON.stringify(buildTime), 'process.env.NODE_ENV': '"production"' },
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
} catch {
  // esbuild has already printed each error with its location.
  process.exit(1);
}

// The inspector is loaded with a dynamic import() only when inspect_port is set; it must be inside
// the bundle, not left as a path to a .ts file that a shipped image does not have.
const inputs = Object.keys(result.metafile.inputs);
const xml2jsInside = inputs.filter((p) => XML2JS_INPUTS.test(p));
if (xml2jsInside.length > 0) {
  console.error(`build: dbus-next's xml2js is inside the bundle (${xml2jsInside[0]}, …): scripts/xml2js-on-demand.mjs no longer catches its require`);
  process.exit(1);
}
const inspector = inputs.find((p) => p.endsWith('src/inspect/inspector.ts'));
if (!inspector) {
  console.error('build: src/inspect/inspector.ts is not in the bundle: keep its import() a static string');
  process.exit(1);
}

// Each file is replaced atomically (temp file + rename), so that a daemon or a test starting from
// dist/ while a build runs never loads half a bundle.
const replace = (path, contents) => {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
};
// Rewrites of the output, each shifting the file's source map with it: the code loaded at start
// keeps no function names (scripts/start-path-names.mjs) and takes Node's built-ins with require()
// (scripts/builtin-requires.mjs), and the module wrappers are compiled with their script, so that
// the compile cache holds them (scripts/eager-module-wrappers.mjs).
const outputs = new Map(result.outputFiles.map((f) => [f.path, f.contents]));
const text = (path) => Buffer.from(outputs.get(path) ?? '').toString('utf8');
const runtime = result.outputFiles.map((f) => ({ file: f, exportName: f.path.endsWith('.js') ? nameHelperExport(f.text) : undefined })).find((r) => r.exportName);
if (!runtime?.exportName) {
  console.error("build: esbuild's __name helper (keepNames) is in no output file: scripts/start-path-names.mjs no longer recognises it");
  process.exit(1);
}
const nameHelper = { runtimeFile: basename(runtime.file.path), exportName: runtime.exportName };
const atStart = startPath(result.metafile, Object.keys(programs).map((name) => `dist/${name}.js`));
const readersAtStart = nameReadersAtStart(result.metafile, atStart);
if (readersAtStart.length > 0) {
  const shown = readersAtStart.slice(0, 3).map((r) => `${r.input} (in ${r.output})`);
  const list = `${shown.join(', ')}${readersAtStart.length > 3 ? ` and ${readersAtStart.length - 3} more` : ''}`;
  console.error(`build: code that reads function or class names is loaded at start, where they are gone: ${list}; load it with import() (scripts/start-path-names.mjs)`);
  process.exit(1);
}
let unnamed = 0;
let builtinRequires = 0;
let wrappers = 0;
for (const file of result.outputFiles) {
  if (!file.path.endsWith('.js')) continue;
  const mapPath = `${file.path}.map`;
  let code = file.text;
  let map = outputs.has(mapPath) ? JSON.parse(text(mapPath)) : undefined;
  try {
    const edit = (edits) => {
      if (map) map = shiftMap(map, code, edits);
      code = applyEdits(code, edits);
      return edits.length;
    };
    if (atStart.has(relative(repo, file.path))) {
      if (edit(nameHelperEdits(code, nameHelper))) unnamed++;
      builtinRequires += edit(builtinRequireEdits(code)) / 2;
    }
    const out = eagerModuleWrappers({ code, map });
    wrappers += out.wrappers;
    code = out.code;
    map = out.map;
  } catch (err) {
    console.error(`build: cannot rewrite ${relative(repo, file.path)}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  if (code === file.text) continue;
  outputs.set(file.path, Buffer.from(code));
  if (map) outputs.set(mapPath, Buffer.from(JSON.stringify(map)));
}
mkdirSync(chunkDir, { recursive: true });
for (const [path, contents] of outputs) replace(path, contents);
replace(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
// Chunk names carry a content hash: drop the ones this build no longer refers to.
const current = new Set(result.outputFiles.map((f) => f.path));
for (const name of readdirSync(chunkDir)) {
  if (!current.has(join(chunkDir, name))) rmSync(join(chunkDir, name), { force: true });
}
// The inspector's layout worker requires elkjs by the path resolved from its own file
// (src/inspect/elk-layout-worker.ts: src/inspect/ imports only elkjs's types, so nothing on the
// main thread can load it); elkjs is one plain JavaScript file, so it ships inside dist/ and
// resolves from dist/node_modules.
const requireHere = createRequire(import.meta.url);
const elkOut = join(outdir, 'node_modules/elkjs');
const elkPackage = JSON.parse(readFileSync(requireHere.resolve('elkjs/package.json'), 'utf8'));
mkdirSync(join(elkOut, 'lib'), { recursive: true });
replace(join(elkOut, 'package.json'), JSON.stringify({ name: elkPackage.name, version: elkPackage.version, license: elkPackage.license }));
replace(join(elkOut, 'lib/elk.bundled.js'), readFileSync(requireHere.resolve('elkjs/lib/elk.bundled.js')));
// dbus-next's xml2js, which dbus-next in the bundle loads from there when first used (scripts/xml2js-on-demand.mjs).
const xml2js = await xml2jsPackage(repo);
for (const [file, contents] of xml2js) {
  mkdirSync(dirname(join(outdir, file)), { recursive: true });
  replace(join(outdir, file), contents);
}
replace(join(outdir, 'parts.json'), `${JSON.stringify(splitParts(result.metafile, [...xml2js.keys()]), null, 1)}\n`);
const output = result.metafile.outputs[relative(repo, outfile)];
const chunks = [...outputs].filter(([path]) => path.startsWith(chunkDir) && path.endsWith('.js'));
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;
const workers = workerNames.map((name) => `${name}.js`);
console.log(
  `build: ${relative(repo, outfile)} ${kib(output?.bytes ?? 0)}, workers ${workers.join(', ')}, + ${chunks.length} chunks (shared or loaded on demand) ${kib(chunks.reduce((n, [, contents]) => n + contents.length, 0))}` +
    ` from ${inputs.length} inputs; external: ${external.join(', ')}; ${wrappers} module wrappers compiled eagerly; ${unnamed} files loaded at start without function names, ${builtinRequires} built-in imports there taken with require()`,
);
