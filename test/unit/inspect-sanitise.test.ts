import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor, createMachine, raise } from 'xstate';
import { isSecretField, REDACTED, sanitise } from '../../src/inspect/sanitise.ts';

const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

describe('sanitise: what the inspector may show', () => {
  it('redacts secret-looking fields at any depth and keeps the rest', () => {
    const event = {
      type: 'PROVISION_SELF',
      requestId: 'r-1',
      pin: '123456',
      token: { label: 'bmc', userPin: '654321', pin_file: '/etc/pin' },
      session: { nonce: 'deadbeef', privateKey: 'abc', PRIVATE_KEY: 'abc', apiKey: 'k', keyPem: 'x', newPassword: 'p', secrets: ['a'] },
      peers: [{ name: 'bmc2', sopin: '1' }],
    };
    assert.deepEqual(sanitise(event), {
      type: 'PROVISION_SELF',
      requestId: 'r-1',
      pin: REDACTED,
      token: REDACTED,
      session: {
        nonce: REDACTED,
        privateKey: REDACTED,
        PRIVATE_KEY: REDACTED,
        apiKey: REDACTED,
        keyPem: REDACTED,
        newPassword: REDACTED,
        secrets: REDACTED,
      },
      peers: [{ name: 'bmc2', sopin: REDACTED }],
    });
  });

  it('does not redact ordinary fields that merely contain the letters', () => {
    for (const name of ['pending', 'shipping', 'monkey', 'keepalive', 'caFingerprint', 'leafNotAfter', 'peerNames', 'spinner', 'announcement']) {
      assert.equal(isSecretField(name), false, name);
    }
    for (const name of ['pin', 'PIN', 'userPIN', 'pin_file', 'key', 'privkey', 'caPrivkey', 'nonce', 'password', 'token', 'client_secret']) {
      assert.equal(isSecretField(name), true, name);
    }
  });

  it('redacts private-key PEM text whatever the field is called', () => {
    assert.deepEqual(sanitise({ note: PEM_KEY, list: [PEM_KEY] }), { note: REDACTED, list: [REDACTED] });
    assert.equal(sanitise('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----');
  });

  it('never serialises actor refs, functions, error stacks or bytes', () => {
    const actor = createActor(createMachine({ id: 'x' }));
    const err = Object.assign(new Error('token login failed\n    at secret place'), { code: 'CKR_PIN_INCORRECT' });
    const out = sanitise({ ref: actor, fn: () => 1, err, bytes: new Uint8Array([1, 2, 3]), when: new Date(0), big: 10n, sym: Symbol('s') });
    assert.deepEqual(out, {
      ref: `[actor ${actor.id}]`,
      err: { name: 'Error', message: 'token login failed', code: 'CKR_PIN_INCORRECT' },
      bytes: '[3 bytes]',
      when: '1970-01-01T00:00:00.000Z',
      big: '10',
    });
    assert.doesNotMatch(JSON.stringify(out), /secret place|stack/);
  });

  it('cuts cycles, depth, long arrays and long strings instead of failing', () => {
    const loop: Record<string, unknown> = { name: 'a' };
    loop['self'] = loop;
    assert.deepEqual(sanitise(loop), { name: 'a', self: '[circular]' });
    const deep = { a: { b: { c: { d: 1 } } } };
    assert.deepEqual(sanitise(deep, { depth: 2 }), { a: { b: '[…]' } });
    const long = sanitise(Array.from({ length: 105 }, (_, i) => i));
    assert.ok(Array.isArray(long));
    assert.equal(long.length, 101);
    assert.equal(long[100], '… 5 more');
    assert.match(String(sanitise('x'.repeat(3000))), /… \(3000 characters\)$/);
    // A value shared twice (not a cycle) is shown twice.
    const shared = { n: 1 };
    assert.deepEqual(sanitise({ a: shared, b: shared }), { a: { n: 1 }, b: { n: 1 } });
  });

  it('shows the functions of a machine definition by type when asked: built-in actions by theirs, others by name', () => {
    function isReady() {
      return true;
    }
    const definition = { entry: [raise({ type: 'GO' }), isReady, () => 1] };
    assert.deepEqual(sanitise(definition, { functionsAsType: true }), { entry: [{ type: 'xstate.raise' }, { type: 'isReady' }, { type: 'anonymous' }] });
    assert.deepEqual(sanitise(definition), { entry: [null, null, null] });
  });

  it('shows class instances by name only, and Maps and Sets as data', () => {
    class Session {
      readonly handle = 42;
    }
    assert.deepEqual(sanitise({ s: new Session(), m: new Map([['pin', '1'], ['name', 'n']]), set: new Set([1, 2]) }), {
      s: '[Session]',
      m: { pin: REDACTED, name: 'n' },
      set: [1, 2],
    });
  });
});
