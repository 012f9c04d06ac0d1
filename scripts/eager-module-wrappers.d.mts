/** An insertion (`text`) or a deletion (`length`) at an offset of the code. */
export type Edit = { readonly at: number; readonly text: string; readonly length?: undefined } | { readonly at: number; readonly length: number; readonly text?: undefined };
/** A version 3 source map, as esbuild writes it. */
export interface SourceMapJson {
  readonly version: number;
  readonly sources: readonly string[];
  readonly mappings: string;
  readonly [key: string]: unknown;
}
export function wrapperEdits(code: string): Edit[];
export function applyEdits(code: string, edits: readonly Edit[]): string;
export function shiftMap<M extends SourceMapJson>(map: M, code: string, edits: readonly Edit[]): M;
export function eagerModuleWrappers<M extends SourceMapJson | undefined>(file: { code: string; map: M }): { code: string; map: M; wrappers: number };
