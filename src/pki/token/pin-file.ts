import { readFileSync, statSync } from 'node:fs';
import { TokenError } from './token-error.ts';

/**
 * Checks that the PIN file exists, is a readable regular file and is not readable or writable by
 * group or others (mode & 0o077 == 0). Throws TokenError PIN_FILE_UNREADABLE / PIN_FILE_INSECURE.
 * Synchronous so that start-up can refuse (exit 78) before anything else happens.
 */
export function checkPinFile(path: string): void {
  readPinFile(path);
}

/** Reads the PIN (the file's content without a trailing newline) after checkPinFile's checks. */
export function readPinFile(path: string): string {
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new TokenError('PIN_FILE_UNREADABLE', `pin_file ${path} is not a regular file`);
    mode = st.mode;
  } catch (err) {
    if (err instanceof TokenError) throw err;
    throw new TokenError('PIN_FILE_UNREADABLE', `pin_file ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new TokenError(
      'PIN_FILE_INSECURE',
      `pin_file ${path} has mode 0${(mode & 0o777).toString(8)}; it must not be accessible by group or others (chmod 600)`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TokenError('PIN_FILE_UNREADABLE', `pin_file ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const pin = text.replace(/\r?\n$/, '');
  if (pin.length === 0) throw new TokenError('PIN_FILE_UNREADABLE', `pin_file ${path} is empty`);
  return pin;
}
