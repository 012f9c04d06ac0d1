import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TokenError } from './token-error.ts';

/** The pkcs11js addon's compiled part, inside its package folder. */
const ADDON_FILE = 'build/Release/pkcs11.node';

/**
 * Checks at start, before anything runs, that a configured PKCS#11 token can be loaded at all: its
 * module file exists (MODULE_MISSING, e.g. tpm2-pkcs11 not installed) and the pkcs11js addon is
 * installed beside the bundles, where the PKCS#11 worker resolves it from (ADDON_MISSING: an
 * incomplete installation). Both need the operator, so the daemons exit 78 on them; nothing here
 * opens the token.
 */
export function checkTokenInstalled(token: { readonly module: string }): void {
  if (!existsSync(token.module)) {
    throw new TokenError('MODULE_MISSING', `PKCS#11 module ${token.module} does not exist (is its package installed?)`, { operation: 'load' });
  }
  let addonDir: string;
  try {
    addonDir = dirname(createRequire(import.meta.url).resolve('pkcs11js/package.json'));
  } catch {
    throw new TokenError('ADDON_MISSING', 'the pkcs11js addon (node_modules/pkcs11js beside the bundles) is not installed: the installation is incomplete');
  }
  if (!existsSync(join(addonDir, ADDON_FILE))) {
    throw new TokenError('ADDON_MISSING', `the pkcs11js addon ${join(addonDir, ADDON_FILE)} is not installed (not built?): the installation is incomplete`);
  }
}
