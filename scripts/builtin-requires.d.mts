import type { Edit } from './eager-module-wrappers.mjs';
export function builtinRequireEdits(code: string): Edit[];
