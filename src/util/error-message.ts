/** The text of whatever was thrown, for a log line or an error of our own: an Error's message, else its string form. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The first line of errorMessage: for one-line logs and D-Bus errors, where a multi-line message (openssl, zod) would break the line. */
export function errorFirstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0] ?? '';
}
