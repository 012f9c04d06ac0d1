/** How the lldp bridge finds lldpcli before it starts (src/lldp/executable-path.ts): exit 72 when it cannot. */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { executablePath } from '../../src/lldp/executable-path.ts';

describe('finding lldpcli as a spawn would', () => {
  const dir = mkdtempSync(join(tmpdir(), 'executable-path-'));
  after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 10_000 });
  const bin = (name: string, mode: number) => {
    const file = join(dir, name);
    writeFileSync(file, '#!/bin/sh\n');
    chmodSync(file, mode);
    return file;
  };
  const first = join(dir, 'first');
  const second = join(dir, 'second');
  mkdirSync(first);
  mkdirSync(second);
  writeFileSync(join(first, 'lldpcli'), 'not executable');
  chmodSync(join(first, 'lldpcli'), 0o644);
  mkdirSync(join(first, 'lldpd-dir'));
  writeFileSync(join(second, 'lldpcli'), '#!/bin/sh\n');
  chmodSync(join(second, 'lldpcli'), 0o755);

  it('a bare name: the first executable file of that name along PATH, skipping a non-executable one', () => {
    assert.equal(executablePath('lldpcli', `${first}:${second}`), join(second, 'lldpcli'));
  });
  it('a bare name found nowhere, or a folder of that name, is undefined', () => {
    assert.equal(executablePath('lldpcli', first), undefined);
    assert.equal(executablePath('lldpd-dir', first), undefined);
    assert.equal(executablePath('lldpcli', ''), undefined);
  });
  it('a path is taken as it is, whatever PATH says', () => {
    const file = bin('my-lldpcli', 0o755);
    assert.equal(executablePath(file, ''), file);
    assert.equal(executablePath(join(dir, 'absent'), `${second}`), undefined);
  });
});
