// A node:test reporter for scripts/run-tests.mjs's watchdog: one JSON line per test event that says
// which test started running, finished, passed or failed (name, nesting, file, whether a suite), and nothing else.
// Node streams these events from every test file's process as they happen, so the watchdog knows
// at any moment what is still running.
const KEPT = new Set(['test:dequeue', 'test:complete', 'test:pass', 'test:fail']);

export default async function* progress(source) {
  for await (const event of source) {
    if (!KEPT.has(event.type)) continue;
    const { name, nesting, file, details } = event.data;
    const suite = details?.type === 'suite';
    yield `${JSON.stringify({ type: event.type, name, nesting, file, suite, at: Date.now() })}\n`;
  }
}
