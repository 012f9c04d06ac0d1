// The project's code rules are Biome rules (biome.json, run by `pnpm lint` and first in `pnpm test`):
// machines/ imports nothing but xstate and sibling machines/ files and touches no clock, timer,
// randomness, process or console; src/ has no `any` and no non-null `!`; every node:test hook in
// test/ has a deadline (the GritQL plugin lint-rules/hook-timeout.grit). This test proves the
// configuration really reports each of them, on fixtures that break every rule once
// (test/fixtures/lint/, left out of the normal lint run), linted with the repository's own config.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findRoomBypasses } from '../../scripts/room-doors.ts';
import { runTool } from '../harness/run-tool.ts';

const REPO = resolve(import.meta.dirname, '../..');
const BIOME = join(REPO, 'node_modules/@biomejs/biome/bin/biome');
const FIXTURES = join(REPO, 'test/fixtures/lint');

/** What the hook-timeout plugin says; Biome files every plugin's diagnostics under the one category `plugin`. */
const HOOK_TIMEOUT_MESSAGE = 'A node:test hook needs a deadline';

/** One reported violation: where, and which rule. */
interface Finding {
  readonly path: string;
  readonly line: number;
  readonly rule: string;
}

/** The rules the project configures; Biome's recommended set may say more about a fixture, which this test ignores. */
const PROJECT_RULES = new Set([
  'lint/style/noRestrictedImports',
  'lint/correctness/noNodejsModules',
  'lint/style/noRestrictedGlobals',
  'lint/nursery/noJsRestrictedProperties',
  'lint/suspicious/noExplicitAny',
  'lint/style/noNonNullAssertion',
  'plugin',
]);

/** The line of `fixture` (relative to test/fixtures/lint) that contains `text`, 1-based. */
function lineOf(fixture: string, text: string): number {
  const index = readFileSync(join(FIXTURES, fixture), 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(text));
  assert.notEqual(index, -1, `${fixture} has no line with ${text}`);
  return index + 1;
}

describe('code rules (biome.json)', () => {
  let dir = '';
  let findings: Finding[] = [];

  before(async () => {
    // The fixtures laid out as a project of their own (machines/, src/) under the repository's
    // biome.json; only the VCS link (there is no git here) and the fixture exclusion differ.
    dir = mkdtempSync(join(tmpdir(), 'pd-lint-'));
    cpSync(FIXTURES, dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(REPO, 'biome.json'), 'utf8')) as Record<string, unknown>;
    delete config['$schema'];
    delete config['vcs'];
    // Plugin paths are relative to the configuration file: point them at the repository's.
    const overrides = (config['overrides'] ?? []) as Array<{ plugins?: string[] }>;
    for (const o of overrides) o.plugins = o.plugins?.map((p) => join(REPO, p));
    writeFileSync(join(dir, 'biome.json'), JSON.stringify(config));
    const run = await runTool(process.execPath, [BIOME, 'lint', '--reporter=json', '--max-diagnostics=none', '.'], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(run.code, 1, `biome reports errors on the fixtures:\n${run.stdout}${run.stderr}`);
    const report = JSON.parse(run.stdout) as {
      diagnostics: Array<{ category: string; message: string; location: { path: string; start: { line: number } } }>;
    };
    findings = report.diagnostics
      .filter((d) => PROJECT_RULES.has(d.category))
      .map((d) => ({
        path: d.location.path,
        line: d.location.start.line,
        rule: d.category === 'plugin' && d.message.startsWith(HOOK_TIMEOUT_MESSAGE) ? 'hookTimeout' : d.category.replace(/^lint\/\w+\//, ''),
      }));
  }, { timeout: 120_000 });
  after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 60_000 });

  /** What biome reported for one fixture file, as `line rule` strings, sorted. */
  const reported = (path: string) =>
    findings
      .filter((f) => f.path === path)
      .map((f) => `${f.line} ${f.rule}`)
      .sort();
  const expected = (path: string, lines: Array<[string, string]>) => lines.map(([text, rule]) => `${lineOf(path, text)} ${rule}`).sort();

  it('machines/ imports only xstate and sibling files, and uses no process, console, timers, clock or randomness', () => {
    const file = 'machines/impure.machine.ts';
    assert.deepEqual(
      reported(file),
      expected(file, [
        ["from 'node:fs'", 'noRestrictedImports'],
        ["from 'node:fs'", 'noNodejsModules'],
        ["from '../src/log.ts'", 'noRestrictedImports'],
        ["type { Logger } from '../../src/log.ts'", 'noRestrictedImports'],
        ["from './sub/deep.ts'", 'noRestrictedImports'],
        ["export { hostname } from 'node:os'", 'noRestrictedImports'],
        ["export { hostname } from 'node:os'", 'noNodejsModules'],
        ["import('../src/daemon.ts')", 'noRestrictedImports'],
        ["require('node:os')", 'noNodejsModules'],
        ['process.env', 'noRestrictedGlobals'],
        ['console.log', 'noRestrictedGlobals'],
        ["require('node:os')", 'noRestrictedGlobals'],
        ['setTimeout(', 'noRestrictedGlobals'],
        ['setInterval(', 'noRestrictedGlobals'],
        ['setImmediate(', 'noRestrictedGlobals'],
        ['performance.now()', 'noRestrictedGlobals'],
        ['Date.now()', 'noJsRestrictedProperties'],
        ['Math.random()', 'noJsRestrictedProperties'],
      ]),
      'each broken rule is reported once, and xstate, ./backoff.ts, Math.max and new Date are not',
    );
  });

  it('src/ has no `any` and no non-null assertion, and may use what machines/ may not', () => {
    const file = 'src/loose-types.ts';
    assert.deepEqual(
      reported(file),
      expected(file, [
        ['value: any', 'noExplicitAny'],
        ['list![0]', 'noNonNullAssertion'],
      ]),
    );
  });

  it('every node:test hook in test/ passes { timeout: N }: a hook without one is reported, whatever its body says', () => {
    const file = 'test/hooks.test.ts';
    assert.deepEqual(
      reported(file),
      expected(file, [
        ['before(async () => {', 'hookTimeout'],
        ['after(() => cleanup());', 'hookTimeout'],
        ['beforeEach(cleanup, {});', 'hookTimeout'],
        ['afterEach(cleanup, opts);', 'hookTimeout'],
        ['after(cleanup, { signal:', 'hookTimeout'],
      ]),
      'the hooks with { timeout: N } and the calls on other objects are not reported',
    );
  });

  it('the repository itself keeps them (biome lint, as pnpm lint runs it, reports no error)', async () => {
    const run = await runTool(process.execPath, [BIOME, 'lint', '--diagnostic-level=error'], { cwd: REPO, timeoutMs: 60_000 });
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
  });
});

describe('rooms keep their doors (scripts/room-doors.ts, run by pnpm lint)', () => {
  it('reports every import from outside a folder with index.ts that names a file inside it, and nothing else', () => {
    const reported = findRoomBypasses(FIXTURES).map((b) => `${b.file}:${b.line} ${b.specifier} (${b.room})`);
    const outside = 'src/room-doors/outside.ts';
    const inner = 'src/room-doors/room/inner.ts';
    const room = 'src/room-doors/room';
    assert.deepEqual(
      reported.sort(),
      [
        `${outside}:${lineOf(outside, "import { inner } from './room/inner.ts'")} ./room/inner.ts (${room})`,
        `${outside}:${lineOf(outside, "import type { Inner } from './room/inner.ts'")} ./room/inner.ts (${room})`,
        `${outside}:${lineOf(outside, "from './room/nested/index.ts'")} ./room/nested/index.ts (${room})`,
        `${outside}:${lineOf(outside, 'export { inner as again }')} ./room/inner.ts (${room})`,
        `${outside}:${lineOf(outside, "import('./room/inner.ts')")} ./room/inner.ts (${room})`,
        `${inner}:${lineOf(inner, "from './nested/deep.ts'")} ./nested/deep.ts (${room}/nested)`,
      ].sort(),
      'the door itself, a folder without index.ts, files of the same room, the outer room seen from a nested one, and test/ are not reported',
    );
  });

  it('the repository keeps them, and pnpm lint checks it', () => {
    assert.deepEqual(findRoomBypasses(REPO), []);
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts['lint'] ?? '', /scripts\/room-doors\.ts/);
  });
});
