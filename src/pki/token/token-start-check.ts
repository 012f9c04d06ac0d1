import { checkPinFile } from './pin-file.ts';
import { checkTokenInstalled } from './token-installed.ts';

/**
 * Every check a daemon makes of a configured PKCS#11 token at start, before anything opens it: the
 * PIN file (PIN_FILE_UNREADABLE / PIN_FILE_INSECURE), then the module and the pkcs11js addon
 * (MODULE_MISSING / ADDON_MISSING). Throws TokenError; the caller exits 78. Never reads the PIN into
 * a message.
 */
export function checkTokenAtStart(token: { readonly module: string; readonly pin_file: string }): void {
  checkPinFile(token.pin_file);
  checkTokenInstalled(token);
}
