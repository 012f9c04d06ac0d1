// A node:test reporter for scripts/run-tests.mjs's watchdog: one JSON line per test event that says
// which test started running, finished, passed or failed (name, nesting, file, whether a suite, and
// for a failure the first line of its error), and nothing else.
// Node streams these events from every test file's process as they happen, so the watchdog knows
// at any moment what is still running.
const KEPT = new Set(['test:dequeue', 'test:complete', 'test:pass', 'test:fail']);

export default async function* progress(source) {
  for await (const event of source) {
    if (!KEPT.has(event.type)) continue;
    const { name, nesting, file, details } = event.data;
    const suite = details?.type === 'suite';
    const error = event.type === 'test:fail' ? ownError(details?.error) : undefined;
    yield `${JSON.stringify({ type: event.type, name, nesting, file, suite, error, at: Date.now() })}\n`;
  }
}

/**
 * The first line of what made a test fail (node wraps it: the test's own error is the cause), cut
 * to 300 characters; undefined for a suite that failed only because a test in it did.
 */
function ownError(error) {
  if (!error || error.failureType === 'subtestsFailed') return undefined;
  const cause = error.cause ?? error;
  const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  const first = text.split('\n').find((line) => line.trim() !== '') ?? text;
  return first.length > 300 ? `${first.slice(0, 300)}…` : first;
}
