import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkIdentityName } from '../../src/attestationd/identity-name.ts';
import { createSpdmTestIdentity } from '../harness/spdm-identity.ts';

/** The identity chain as PEM strings, leaf last, as the SPDM requester reports it. */
async function chainOf(o: { name?: string; dnsName?: string }): Promise<string[]> {
  const identity = await createSpdmTestIdentity({ curve: 'P-256', ...o });
  return identity.chain.map((der) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`);
}

describe('the device identity names the BMC it is attested as (identity_name)', () => {
  it('match: a dNSName equal to the device id passes, and the subject is kept for the log', async () => {
    const chain = await chainOf({ name: 'bmc-b device identity', dnsName: 'bmc-b' });
    assert.deepEqual(checkIdentityName({ chain, id: 'bmc-b', policy: 'match' }), { ok: true, subject: 'CN=bmc-b device identity' });
  });

  it('match: a genuine device certified for another BMC is refused with IDENTITY_NAME_MISMATCH, naming both', async () => {
    const chain = await chainOf({ name: 'bmc-c device identity', dnsName: 'bmc-c' });
    const r = checkIdentityName({ chain, id: 'bmc-b', policy: 'match' });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.code === 'IDENTITY_NAME_MISMATCH');
    assert.ok(!r.ok && /names subjectAltName DNS:bmc-c, not bmc-b$/.test(r.reason), !r.ok ? r.reason : '');
  });

  it('match: without a dNSName the CN must be the name itself; a CN that only contains it is not enough', async () => {
    assert.equal(checkIdentityName({ chain: await chainOf({ name: 'bmc-b' }), id: 'bmc-b', policy: 'match' }).ok, true);
    const r = checkIdentityName({ chain: await chainOf({ name: 'bmc-b device identity' }), id: 'bmc-b', policy: 'match' });
    assert.ok(!r.ok && r.code === 'IDENTITY_NAME_MISMATCH' && r.reason.includes('CN=bmc-b device identity'));
  });

  it('match: a dNSName wins over the CN, and no wildcard or prefix matches', async () => {
    const r = checkIdentityName({ chain: await chainOf({ name: 'bmc-b', dnsName: 'bmc-c' }), id: 'bmc-b', policy: 'match' });
    assert.equal(r.ok, false, 'the CN does not count once a dNSName is present');
    assert.equal(checkIdentityName({ chain: await chainOf({ dnsName: '*.rack' }), id: 'bmc-b.rack', policy: 'match' }).ok, false);
    assert.equal(checkIdentityName({ chain: await chainOf({ dnsName: 'bmc-b2' }), id: 'bmc-b', policy: 'match' }).ok, false);
  });

  it('match: an unreadable or empty chain is a mismatch, never a pass', () => {
    assert.equal(checkIdentityName({ chain: [], id: 'bmc-b', policy: 'match' }).ok, false);
    assert.equal(checkIdentityName({ chain: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'], id: 'bmc-b', policy: 'match' }).ok, false);
  });

  it('any: the chain to a configured root is enough (device certificates that name no BMC)', async () => {
    const chain = await chainOf({ name: 'manufacturer serial 0042' });
    assert.deepEqual(checkIdentityName({ chain, id: 'bmc-b', policy: 'any' }), { ok: true, subject: 'CN=manufacturer serial 0042' });
  });
});
