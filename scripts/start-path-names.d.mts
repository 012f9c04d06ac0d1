import type { Edit } from './eager-module-wrappers.mjs';
/** What startPath reads of esbuild's metafile. */
export interface MetafileOutputs {
  readonly outputs: Readonly<Record<string, { readonly imports?: readonly { readonly path: string; readonly kind: string; readonly external?: boolean }[] }>>;
}
export function nameHelperExport(code: string): string | undefined;
export function nameHelperEdits(code: string, helper: { runtimeFile: string; exportName: string }): Edit[];
export function startPath(metafile: MetafileOutputs, entries: readonly string[]): Set<string>;
