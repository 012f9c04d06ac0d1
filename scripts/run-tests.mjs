// Runs every test file under test/ with Node's test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [kind ...]   kinds: unit model integration e2e (default: all)
import { spawn } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const KINDS = ['unit', 'model', 'integration', 'e2e'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : KINDS;
const files = wanted.flatMap((kind) => {
  const dir = join('test', kind);
  if (!KINDS.includes(kind)) throw new Error(`unknown test kind ${kind}; one of ${KINDS.join(', ')}`);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join(dir, f)) : [];
});
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const args = [
  '--import', 'tsx',
  '--test',
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
  // A hung test fails instead of hanging CI; every test stops its own processes in after() hooks.
  // Node applies this to each file as a whole too (a file is one test of the runner): on a shared
  // 2-core machine under load 20, persistence-restart and pki-issuer needed more than 300 s.
  '--test-timeout=900000',
  ...files,
];
const child = spawn(process.execPath, args, { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
