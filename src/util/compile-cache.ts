import { flushCompileCache, getCompileCacheDir } from 'node:module';

/**
 * Writes V8's compile cache (enabled by NODE_COMPILE_CACHE, which the units set) for the code
 * compiled so far, once a service is up: Node writes it only at a clean exit otherwise, so a daemon
 * that is killed or loses power would start cold again. A no-op without the cache; never throws
 * (a cache that cannot be written costs start-up time, nothing else).
 */
export function saveCompileCache(): void {
  if (getCompileCacheDir() === undefined) return;
  try {
    flushCompileCache();
  } catch {
    // Node reports nothing useful here; the next start compiles again.
  }
}
