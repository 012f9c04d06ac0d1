/** Set by scripts/build.mjs (esbuild `define`) to the time the bundle was built, ISO 8601. */
declare const __PROVISIONINGD_BUILD_TIME__: string | undefined;

/**
 * When this source was last changed, for runs from source (`pnpm -s provisioningd`): a wall clock
 * earlier than this (less the skew allowance) cannot be right. Moved forward now and then.
 */
const SOURCE_TIME = '2026-12-06T00:00:00Z';

/** When this daemon was built (the bundle), or when its source was last dated (from source): epoch ms. */
export const BUILD_TIME_MS = Date.parse(typeof __PROVISIONINGD_BUILD_TIME__ === 'string' ? __PROVISIONINGD_BUILD_TIME__ : SOURCE_TIME);
