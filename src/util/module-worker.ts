import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ResourceLimits, Worker } from 'node:worker_threads';

/**
 * A worker thread whose code is a typed TypeScript module of its own, named by URL the way its
 * caller sees it: `new URL('./x-worker.ts', import.meta.url)`.
 */
export interface ModuleWorkerOptions {
  /** The worker's module, `new URL('./x-worker.ts', import.meta.url)` written next to the caller. */
  readonly module: URL;
  /** Handed to the worker as `workerData` (structured-cloned). */
  readonly workerData?: unknown;
  /** Heap caps, so that a runaway worker ends its own thread and not the daemon. */
  readonly resourceLimits?: ResourceLimits;
}

/** Where a worker's code is and how Node must be told to load it. */
export interface ModuleWorkerEntry {
  /** The file the thread runs. */
  readonly url: URL;
  /** Node options for the thread: tsx's loader (module-worker-tsx.mjs) when the file is TypeScript, nothing otherwise. */
  readonly execArgv: readonly string[];
}

/**
 * The folder scripts/build.mjs writes chunks to, below the bundle's root (dist/). Bundled code runs
 * either from the root (an entry) or from this folder (a chunk); worker entries are at the root.
 */
const BUNDLE_CHUNK_DIR = 'chunks';

/** True when this module runs from its TypeScript source (tsx), false inside the bundle. */
const FROM_SOURCE = new URL(import.meta.url).pathname.endsWith('.ts');

/**
 * The file a worker runs. From source it is the module itself, loaded through tsx. In the bundle,
 * `pnpm build` builds every worker module as an entry of its own at the bundle's root, named after
 * the module (src/inspect/elk-layout-worker.ts → dist/elk-layout-worker.js); the URL the caller
 * wrote then points into dist/ with a .ts name, so only its base name is kept.
 */
export function moduleWorkerEntry(module: URL): ModuleWorkerEntry {
  const file = fileURLToPath(module);
  if (!file.endsWith('.ts')) throw new Error(`a module worker is named by its .ts source, not ${file}`);
  if (FROM_SOURCE) {
    if (!existsSync(file)) throw new Error(`worker module ${file} does not exist`);
    return { url: module, execArgv: ['--import', new URL('./module-worker-tsx.mjs', import.meta.url).href] };
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const root = basename(here) === BUNDLE_CHUNK_DIR ? new URL('../', import.meta.url) : new URL('./', import.meta.url);
  const url = new URL(`${basename(file, '.ts')}.js`, root);
  if (!existsSync(url)) {
    throw new Error(`worker ${fileURLToPath(url)} is not in the bundle: list ${basename(file)} in workerEntries in scripts/build.mjs`);
  }
  return { url, execArgv: [] };
}

/**
 * Starts a worker_threads Worker running a typed module (see moduleWorkerEntry), from source and
 * from the production bundle alike. The caller owns the Worker: it unrefs, posts, terminates.
 * Throws at once, before any thread starts, when the worker's file is missing.
 */
export function startModuleWorker(opts: ModuleWorkerOptions): Worker {
  const entry = moduleWorkerEntry(opts.module);
  return new Worker(entry.url, {
    execArgv: [...entry.execArgv],
    workerData: opts.workerData,
    ...(opts.resourceLimits ? { resourceLimits: opts.resourceLimits } : {}),
  });
}
