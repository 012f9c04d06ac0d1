import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkDeviceId, isPeerName } from '../../machines/device-id.ts';
import { boundNamesOf, boundPem } from '../../src/pki/trust/name-binding.ts';

/** A certificate block: the binding reads only what comes before it. */
const PEM = '-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n';

/** Peer names by their grammar: labels of letters, digits, `-` and `_`, each starting with a letter or digit, joined by dots. */
const label = fc
  .tuple(fc.constantFrom(...'ab0Z9'), fc.array(fc.constantFrom(...'az09AZ-_'), { maxLength: 62 }))
  .map(([first, rest]) => `${first}${rest.join('')}`);
const peerName = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.')).filter((n) => n.length <= 253);

describe('name bindings in trusted CA files', () => {
  it('every name ProvisionPeer accepts as a peer can be bound, and reads back as bound to exactly it', () => {
    fc.assert(
      fc.property(fc.oneof(peerName, fc.string({ maxLength: 20 })), (name) => {
        if (checkDeviceId(name).kind !== 'peer') return;
        assert.deepEqual(boundNamesOf(boundPem([name], PEM)), [name]);
      }),
      { numRuns: 500 },
    );
    // Names whose last character is not a letter or digit were once written but not read back.
    for (const name of ['bmc-', 'bmc_', 'a.b-', 'b']) assert.deepEqual(boundNamesOf(boundPem([name], PEM)), [name], name);
  });

  it('any set of peer names reads back sorted, each once', () => {
    fc.assert(
      fc.property(fc.array(peerName, { minLength: 1, maxLength: 5 }), (names) => {
        assert.deepEqual(boundNamesOf(boundPem(names, PEM)), [...new Set(names)].sort());
      }),
    );
  });

  it('a line that claims a binding but names no peer makes the file refused, never trusted for any name', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40, unit: 'binary' }), fc.constantFrom('Attested-Name: ', 'Attested-Name:', 'attested-name: ', ' ATTESTED-NAME : '), (value, prefix) => {
        const line = value.split('\n')[0] ?? '';
        const text = `${prefix}${line}\n${PEM}`;
        if (isPeerName(line.trim())) assert.deepEqual(boundNamesOf(text), [line.trim()]);
        else assert.throws(() => boundNamesOf(text), /names no peer/);
      }),
      { numRuns: 500 },
    );
    assert.throws(() => boundNamesOf(`Attested-Name: bmc-b\nAttested-Name: bmc c\n${PEM}`), /names no peer/, 'one bad line refuses the whole file');
  });

  it('nothing after the certificate block binds, and other header text is no binding', () => {
    fc.assert(
      fc.property(fc.array(peerName, { maxLength: 3 }), fc.string({ maxLength: 60, unit: 'binary' }), (names, after) => {
        const text = names.length ? boundPem(names, PEM) : PEM;
        assert.deepEqual(boundNamesOf(`${text}${after}\nAttested-Name: bmc-evil\n`), boundNamesOf(text));
      }),
    );
    assert.equal(boundNamesOf(`Subject: CN=bmc-b\nAttested-Names are below\n${PEM}`), undefined, 'a header line that only mentions it');
  });

  it('refuses to write a binding it could not read back', () => {
    for (const name of ['', 'bmc b', 'bmc-b\nAttested-Name: bmc-c', '-bmc', 'a..b', 'x'.repeat(254)]) {
      assert.throws(() => boundPem([name], PEM), /not a peer name/, JSON.stringify(name));
    }
  });
});
