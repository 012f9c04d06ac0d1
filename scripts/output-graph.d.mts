/** What the graph walk reads of esbuild's metafile. */
export interface MetafileOutputs {
  readonly outputs: Readonly<Record<string, { readonly imports?: readonly OutputImport[] }>>;
}
/** One import of an output file, as esbuild's metafile lists it. */
export interface OutputImport {
  readonly path: string;
  readonly kind: string;
  readonly external?: boolean;
}
export function reachableOutputs(metafile: MetafileOutputs, entries: readonly string[], follows: (imp: OutputImport) => boolean): Set<string>;
export function startPath(metafile: MetafileOutputs, entries: readonly string[]): Set<string>;
