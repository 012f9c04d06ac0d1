import type { Edit } from './eager-module-wrappers.mjs';
export function nameHelperExport(code: string): string | undefined;
export function nameHelperEdits(code: string, helper: { runtimeFile: string; exportName: string }): Edit[];
