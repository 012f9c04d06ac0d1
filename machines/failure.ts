/** A failure as the statechart keeps it: a stable code for machines and D-Bus, a line for humans. */
export interface Failure {
  readonly code: string;
  readonly message: string;
}

/** Reduces whatever an actor threw to a Failure, without keeping the error object (and its secrets). */
export function toFailure(error: unknown, fallbackCode = 'FAILED'): Failure {
  if (error && typeof error === 'object') {
    const rec = error as { code?: unknown; message?: unknown };
    const code = typeof rec.code === 'string' && rec.code ? rec.code : fallbackCode;
    const message = typeof rec.message === 'string' && rec.message ? rec.message : String(error);
    return { code, message: message.split('\n')[0] ?? message };
  }
  return { code: fallbackCode, message: String(error) };
}
