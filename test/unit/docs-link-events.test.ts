import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';

const read = (path: string) => readFileSync(resolve(import.meta.dirname, '../..', path), 'utf8');

/** Events of the peer link and the trust store an operator acts on: logged where the docs say, each with a row in docs/operations.md. */
const EVENTS: readonly { readonly event: string; readonly loggedIn: readonly string[]; readonly shownIn: string }[] = [
  { event: 'PEER_LEAF_EXPIRED', loggedIn: ['src/tls/inbound-link.ts', 'src/tls/tls-link-client.ts'], shownIn: 'docs/peer-link.md' },
  { event: 'TRUST_LINKS_FAILED', loggedIn: ['src/pki/trust/trust-store.ts'], shownIn: 'docs/security-model.md' },
  { event: 'TRUST_LINKS_REPAIRED', loggedIn: ['src/pki/trust/trust-store.ts'], shownIn: 'docs/security-model.md' },
];

describe('the peer-link and trust-store events are documented', () => {
  for (const { event, loggedIn, shownIn } of EVENTS) {
    it(`${event} is logged by ${loggedIn.join(' and ')} and explained in docs/operations.md and ${shownIn}`, () => {
      for (const file of loggedIn) assert.ok(read(file).includes(`event: '${event}'`), `${file} logs ${event}`);
      assert.match(read('docs/operations.md'), new RegExp(`^\\| \`${event}\``, 'm'), 'a row of the errors table');
      assert.ok(read(shownIn).includes(event), `named in ${shownIn}`);
    });
  }
});
