import type { Edit } from './eager-module-wrappers.mjs';
export function nameHelperExport(code: string): string | undefined;
export function nameHelperEdits(code: string, helper: { runtimeFile: string; exportName: string }): Edit[];
export const NAME_READERS: readonly RegExp[];
export function nameReadersAtStart(
  metafile: { outputs: Record<string, { inputs?: Record<string, unknown> }> },
  atStart: ReadonlySet<string>,
  readers?: readonly RegExp[],
): Array<{ output: string; input: string }>;
