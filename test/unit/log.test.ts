import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
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
});
