// Part of `pnpm build` (scripts/build.mjs): which output files a program loads, read from the
// import graph in esbuild's metafile.

/**
 * The output files reached from `entries` (output paths such as `dist/provisioningd.js`) through
 * the imports `follows` accepts, the entries included; external imports are never followed.
 */
export function reachableOutputs(metafile, entries, follows) {
  const reached = new Set();
  const visit = (path) => {
    if (reached.has(path) || !metafile.outputs[path]) return;
    reached.add(path);
    for (const imp of metafile.outputs[path].imports ?? []) if (!imp.external && follows(imp)) visit(imp.path);
  };
  for (const entry of entries) visit(entry);
  return reached;
}

/**
 * The output files loaded before the first line of any of `entries` runs: their static import
 * graph. What is reached only through import() is not in it.
 */
export function startPath(metafile, entries) {
  return reachableOutputs(metafile, entries, (imp) => imp.kind === 'import-statement');
}
