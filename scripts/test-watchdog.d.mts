/** Types of test-watchdog.mjs, for the TypeScript callers (bench/run.ts). */
export function processesUnder(root: number): number[];
export function stopProcessTree(root: number, graceMs?: number): Promise<number[]>;
export function namespacesOf(pids: readonly number[], names: readonly string[]): string[];
export function removeNamespacesOf(pids: readonly number[]): string[];
export function secondsFromEnv(name: string, fallback: number): number;
