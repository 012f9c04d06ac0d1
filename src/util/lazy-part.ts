import { saveCompileCache } from './compile-cache.ts';

/**
 * A part of the package that is loaded with import() on its first use, and whose compiled code is
 * written to the compile cache as soon as it has loaded: Node writes that cache only at a clean
 * exit, so a daemon that is killed or loses power would otherwise compile the part cold on every
 * start. The load is shared by every caller; a load that fails is tried again by the next call.
 */
export function lazyPart<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().then(
      (part) => {
        saveCompileCache();
        return part;
      },
      (err: unknown) => {
        loading = undefined;
        throw err;
      },
    );
    return loading;
  };
}
