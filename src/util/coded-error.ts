/** An error with a stable `code` (for logs, D-Bus errors and lastError) next to its one-line message. */
export class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
  }
}
