import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { escapeForLog, quoteForLog } from '../../src/log-escape.ts';
import { STARTUP_DEADLINE_MS } from '../harness/startup-deadline.ts';

const run = promisify(execFile);
const LOG = resolve(import.meta.dirname, '../../src/log.ts');

/** Runs a tiny program that logs through createLogger, returning what reached stderr. */
async function logged(env: Record<string, string>, code: string): Promise<string> {
  const program = `import { createLogger } from ${JSON.stringify(LOG)}; const log = createLogger({ level: 'debug' }); ${code}`;
  const { stderr, stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
    env: { ...process.env, ...env },
    // tsx starts inside this deadline: a net for a loaded machine, not a measurement.
    timeout: STARTUP_DEADLINE_MS,
  });
  assert.equal(stdout, '', 'logs go to stderr, never stdout');
  return stderr;
}

describe('logging', () => {
  it('under systemd (JOURNAL_STREAM set) each line carries its journald priority and the structured fields', async () => {
    const out = await logged(
      { JOURNAL_STREAM: '8:12345' },
      `log.error('link refused', { peer: 'bmc-b', event: 'LINK_REJECTED', reason: 'untrusted CA' }); log.info('up', { state: 'Connected' }); log.debug('d');`,
    );
    assert.deepEqual(out.trim().split('\n'), [
      '<3>link refused peer=bmc-b event=LINK_REJECTED reason=untrusted CA',
      '<6>up state=Connected',
      '<7>d',
    ]);
  });

  it('a stderr nobody reads does not stall the program; lines beyond the bound are dropped and counted, none lost silently', async () => {
    // 6000 lines of about 1 KiB: far more than a pipe holds. Written synchronously (as Node writes
    // process.stderr to a pipe), the first full pipe would block the program before it says "done".
    const LINES = 6000;
    const program = `import { createLogger } from ${JSON.stringify(LOG)}; const log = createLogger({ level: 'info' });
      for (let i = 0; i < ${LINES}; i++) log.info('line ' + i + ' ' + 'x'.repeat(1000));
      setImmediate(() => process.stdout.write('done\\n'));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
      env: { ...process.env, JOURNAL_STREAM: '8:1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: STARTUP_DEADLINE_MS,
    });
    child.stderr.pause();
    // "done" while stderr is still unread; or the end of stdout, if the program died (spawn's
    // timeout: a net for a loaded machine, not a measurement).
    let stdout = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('\n')) resolve();
      });
      child.stdout.once('end', resolve);
    });
    assert.equal(stdout, 'done\n', 'the event loop ran while stderr was full');
    // Now read stderr to its end: what was kept, and the count of what was not.
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stderr.resume();
    await once(child, 'close');
    const lines = stderr.trim().split('\n');
    const kept = lines.filter((l) => /^<6>line \d+ x+$/.test(l)).length;
    const notices = lines.map((l) => /^(\d+) log line\(s\) dropped: stderr was not read fast enough$/.exec(l)?.[1]).filter((n) => n !== undefined);
    assert.ok(notices.length > 0, 'the drop is reported');
    assert.ok(kept > 0 && lines[0]?.startsWith('<6>line 0 '), 'the first lines are kept');
    assert.equal(kept + notices.reduce((n, c) => n + Number(c), 0), LINES, 'every line is either written or counted');
  });

  it('on a console, lines are timestamped with level and fields', async () => {
    const out = await logged({ JOURNAL_STREAM: '' }, `log.warn('w', { peer: 'p' });`);
    assert.match(out, /^\d{4}-\d\d-\d\dT\S+ warn {2}w peer=p$/m);
  });

  it('never prints a secret-looking field, whatever the caller passed', async () => {
    const out = await logged(
      { JOURNAL_STREAM: '8:1' },
      `log.info('login', { pin: '123456', keyPem: '-----BEGIN PRIVATE KEY-----', nonce: 'abcd', peer: 'bmc-b' });
       log.child({ pin: '654321' }).info('child');`,
    );
    assert.doesNotMatch(out, /123456|BEGIN PRIVATE KEY|abcd|654321/);
    assert.match(out, /<6>login peer=bmc-b/);
  });

  it('escapes every control, format and separator character from a message or a field: one call, one line, shown as sent', async () => {
    // A name as a hostile peer or caller could send it: a line break with a forged record, a
    // right-to-left override (U+202E), a zero-width space (U+200B), a C1 control, a line separator.
    const hostile = 'bmc-\u202eb\u200b\n<3>forged\u0085\u2028x';
    const out = await logged(
      { JOURNAL_STREAM: '8:1' },
      `const hostile = ${JSON.stringify(hostile)}; log.warn('refused ' + hostile, { peer: hostile, reason: 'tag\\u{e0041}' });`,
    );
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 1, 'one log call writes one line');
    const escaped = String.raw`bmc-\u202eb\u200b\n<3>forged\u0085\u2028x`;
    assert.equal(lines[0], `<4>refused ${escaped} peer=${escaped} reason=tag${String.raw`\u{e0041}`}`);
    assert.ok(![...out.trim()].some((c) => /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(c)), 'no raw control or format character reaches the log');
  });
});

describe('escaping for logs', () => {
  it('escapes Unicode categories Cc, Cf, Zl, Zp and lone surrogates, and nothing else', () => {
    assert.equal(escapeForLog('a\tb\rc\nd'), String.raw`a\tb\rc\nd`);
    assert.equal(escapeForLog('\u0000\u001b\u007f\u009b'), String.raw`\u0000\u001b\u007f\u009b`);
    // Bidi controls, zero-width characters, the BOM, separators.
    for (const c of ['\u202a', '\u202e', '\u2066', '\u2069', '\u200b', '\u200e', '\u200f', '\u2060', '\ufeff', '\u00ad', '\u2028', '\u2029']) {
      assert.equal(escapeForLog(c), `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    }
    assert.equal(escapeForLog('\ud800'), String.raw`\ud800`, 'a lone surrogate');
    assert.equal(escapeForLog('\u{e0001}'), String.raw`\u{e0001}`, 'a tag character beyond the BMP');
    assert.equal(escapeForLog('bmc-b.example ünïcödé 名前 😀'), 'bmc-b.example ünïcödé 名前 😀', 'printable text is kept');
  });
  it('quotes a value cut at 64 characters, escaped', () => {
    assert.equal(quoteForLog('a\u202eb'), String.raw`"a\u202eb"`);
    assert.equal(quoteForLog('y'.repeat(1000)), `"${'y'.repeat(64)}…"`);
  });
});
