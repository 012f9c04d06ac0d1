/** The .deb's postinst for these units: enables them and starts each one on its own, a failure reported, not fatal. */
export function postinst(units: readonly string[]): string;
