import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkPinFile, readPinFile } from '../../src/pki/token/pin-file.ts';
import { tokenErrorCodeForCkr } from '../../src/pki/token/pkcs11-token-error.ts';
import { TokenError } from '../../src/pki/token/token-error.ts';

const dir = mkdtempSync(join(tmpdir(), 'pki-pin-'));
after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 60_000 });

function pinFile(name: string, content: string, mode: number): string {
  const f = join(dir, name);
  writeFileSync(f, content);
  chmodSync(f, mode);
  return f;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof TokenError, String(err));
    return err.code;
  }
}

describe('pin_file', () => {
  it('reads a 0600 or 0400 file and drops one trailing newline', () => {
    assert.equal(readPinFile(pinFile('a.pin', '1234\n', 0o600)), '1234');
    assert.equal(readPinFile(pinFile('b.pin', '12 34\r\n', 0o400)), '12 34');
    assert.equal(readPinFile(pinFile('c.pin', 'abc', 0o600)), 'abc');
  });

  it('refuses a file group or others can access (PIN_FILE_INSECURE), without the PIN in the message', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o610, 0o601]) {
      const f = pinFile(`m${mode.toString(8)}.pin`, 'secret-pin\n', mode);
      assert.equal(code(() => checkPinFile(f)), 'PIN_FILE_INSECURE', mode.toString(8));
      try {
        checkPinFile(f);
      } catch (err) {
        assert.ok(err instanceof Error && !err.message.includes('secret-pin'));
        assert.match(err.message, new RegExp(`0${mode.toString(8)}`));
      }
    }
  });

  it('refuses a missing, empty or non-regular file (PIN_FILE_UNREADABLE)', () => {
    assert.equal(code(() => checkPinFile(join(dir, 'absent.pin'))), 'PIN_FILE_UNREADABLE');
    assert.equal(code(() => checkPinFile(pinFile('empty.pin', '\n', 0o600))), 'PIN_FILE_UNREADABLE');
    const sub = join(dir, 'a-dir');
    mkdirSync(sub, { mode: 0o700 });
    assert.equal(code(() => checkPinFile(sub)), 'PIN_FILE_UNREADABLE');
  });
});

describe('PKCS#11 return codes', () => {
  it('map to the operator-facing TokenError codes', () => {
    assert.equal(tokenErrorCodeForCkr('CKR_PIN_INCORRECT'), 'PIN_INCORRECT');
    assert.equal(tokenErrorCodeForCkr('CKR_PIN_LOCKED'), 'PIN_LOCKED');
    assert.equal(tokenErrorCodeForCkr('CKR_DEVICE_REMOVED'), 'TOKEN_GONE');
    assert.equal(tokenErrorCodeForCkr('CKR_GENERAL_ERROR'), 'TOKEN_GONE');
    assert.equal(tokenErrorCodeForCkr('CKR_SESSION_HANDLE_INVALID'), 'TOKEN_GONE');
    assert.equal(tokenErrorCodeForCkr('CKR_MECHANISM_INVALID'), 'FAILED');
  });

  it('name the return code in the message', () => {
    const e = new TokenError('PIN_INCORRECT', 'token refused the PIN', { ckr: 'CKR_PIN_INCORRECT' });
    assert.equal(e.message, 'PIN_INCORRECT: token refused the PIN (CKR_PIN_INCORRECT)');
    assert.equal(e.ckr, 'CKR_PIN_INCORRECT');
  });
});
