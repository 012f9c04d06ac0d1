// Part of `pnpm build` (scripts/build.mjs): dbus-next's xml2js, loaded the first time it is used
// instead of when a program starts.
//
// dbus-next requires xml2js (and with it xmlbuilder and sax, about 100 KiB of the 560 KiB a start
// loaded) as it is loaded, and makes a Builder when a bus connects, but uses it only to answer an
// `Introspect` call (and a Parser only in proxy objects, which our programs never make). In the
// bundle, dbus-next's `require('xml2js')` gets src/dbus/xml2js-on-demand.ts instead, which requires
// the real xml2js from the bundle's node_modules when it is first used: one CommonJS file built here
// from the xml2js dbus-next depends on, shipped with the daemons' part.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';

/** The module dbus-next gets for xml2js. */
export const XML2JS_SHIM = 'src/dbus/xml2js-on-demand.ts';
/** Inputs that must not be in the bundle itself: the plugin no longer catches dbus-next's require if they are. */
export const XML2JS_INPUTS = /(^|\/)node_modules\/(xml2js|xmlbuilder|sax)\//;

/** The esbuild plugin that gives dbus-next's `require('xml2js')` the shim (other importers get xml2js as usual). */
export function xml2jsOnDemand(repo) {
  const shim = join(repo, XML2JS_SHIM);
  return {
    name: 'xml2js-on-demand',
    setup(b) {
      b.onResolve({ filter: /^xml2js$/ }, (args) => (/[\\/]node_modules[\\/]dbus-next[\\/]/.test(args.importer) ? { path: shim } : undefined));
    },
  };
}

/**
 * The xml2js package for the bundle's node_modules, as files relative to dist/: its code and its
 * dependencies bundled into one minified CommonJS file (licence comments kept), and a package.json
 * naming it.
 */
export async function xml2jsPackage(repo) {
  const dbusNext = createRequire(createRequire(join(repo, 'package.json')).resolve('dbus-next/package.json'));
  const manifest = JSON.parse(readFileSync(dbusNext.resolve('xml2js/package.json'), 'utf8'));
  const result = await build({
    entryPoints: [dbusNext.resolve('xml2js')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minify: true,
    legalComments: 'inline',
    write: false,
    logLevel: 'warning',
  });
  const code = result.outputFiles[0]?.contents;
  if (!code) throw new Error('esbuild wrote no xml2js bundle');
  return new Map([
    ['node_modules/xml2js/package.json', Buffer.from(`${JSON.stringify({ name: manifest.name, version: manifest.version, license: manifest.license, main: 'index.js' })}\n`)],
    ['node_modules/xml2js/index.js', Buffer.from(code)],
  ]);
}
