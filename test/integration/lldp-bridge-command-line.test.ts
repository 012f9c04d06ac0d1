/**
 * lldp-bridge's command line, run as the real program: a log level the logger does not know is a
 * usage error (exit 64, one line naming the accepted levels) rather than a silent `info`; --help
 * describes every option the bridge accepts, and docs/discovery.md's option table lists the same ones.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LOG_LEVELS } from '../../src/log.ts';
import { BRIDGE_OPTIONS } from '../../src/lldp/bridge-options.ts';
import { REPO } from '../harness/daemon.ts';
import { runTool } from '../harness/run-tool.ts';

/** Runs the bridge from source; `--lldpcli` points nowhere, so a bridge that got past its command line exits 72 at once. */
const runBridge = (args: readonly string[]) =>
  runTool(process.execPath, ['--import', 'tsx', join(REPO, 'src/lldp/bridge-main.ts'), '--lldpcli', '/nonexistent/lldpcli', ...args], {
    cwd: REPO,
    env: { DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/bus' },
  });

/** Every option as typed: `--name`. */
const OPTIONS = Object.keys(BRIDGE_OPTIONS).map((name) => `--${name}`);

describe('lldp-bridge command line', () => {
  it('an unknown --log-level: exit 64 with one line naming the accepted levels, then the usage', async () => {
    const r = await runBridge(['--log-level', 'anything']);
    assert.equal(r.code, 64, r.stderr);
    const [first, usage] = [r.stderr.split('\n')[0], r.stderr.split('\n')[1]];
    assert.equal(first, `lldp-bridge: --log-level must be one of ${LOG_LEVELS.join(', ')}, not "anything"`);
    assert.match(usage ?? '', /^usage: lldp-bridge /);
  });

  it('each level the logger knows is accepted (the bridge goes on to look for lldpcli: exit 72)', async () => {
    for (const level of LOG_LEVELS) {
      const r = await runBridge(['--log-level', level]);
      assert.equal(r.code, 72, `${level}: ${r.stderr}`);
      assert.match(r.stderr, /\/nonexistent\/lldpcli not found: is lldpd installed\?/);
    }
  });

  it('--help describes every option (the levels too), and docs/discovery.md lists the same options', async () => {
    const r = await runBridge(['--help']);
    assert.equal(r.code, 0, r.stderr);
    // The description lines: "  --name  what" (or "  -h, --help  what").
    const described = new Set([...r.stdout.matchAll(/^ {2}(?:-\w, )?(--[\w-]+) +\S/gm)].map((m) => m[1]));
    assert.deepEqual([...described].sort(), [...OPTIONS].sort(), r.stdout);
    const levelLine = r.stdout.split('\n').find((l) => l.trimStart().startsWith('--log-level')) ?? '';
    for (const level of LOG_LEVELS) assert.ok(levelLine.includes(level), `--help names the level ${level}: ${levelLine}`);

    const doc = readFileSync(join(REPO, 'docs/discovery.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## The lldp bridge'));
    const rows = new Set([...section.matchAll(/^\| `(--[\w-]+)[ `,]/gm)].map((m) => m[1]));
    assert.deepEqual([...rows].sort(), [...OPTIONS].sort(), 'the option table of docs/discovery.md');
    const levelRow = section.split('\n').find((l) => l.startsWith('| `--log-level')) ?? '';
    for (const level of LOG_LEVELS) assert.ok(levelRow.includes(`\`${level}\``), `docs/discovery.md names the level ${level}: ${levelRow}`);
    assert.match(levelRow, /exit 64/, 'docs/discovery.md says what another word does');
  });
});
