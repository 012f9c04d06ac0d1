import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where tests keep what they build once and reuse across runs and checkouts (container images, a
 * dbus-broker unpacked from its package): `$XDG_CACHE_HOME/provisioningd`, or `~/.cache/provisioningd`.
 */
export const testCacheDir = (): string => join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'provisioningd');
