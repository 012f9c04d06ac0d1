import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { escapePathLabel, unescapePathLabel } from '../../src/dbus/object-path-label.ts';
import { isNeighbourPath, lldpNames } from '../../src/lldp/lldp-names.ts';
import { quoteForLog } from '../../src/log-escape.ts';
import { addressProblem, checkNeighbour } from '../../src/lldp/neighbour-check.ts';
import { NeighbourTable } from '../../src/lldp/neighbour-table.ts';

const R = '/xyz/openbmc_project/network/lldp/eth1/receive';
const own = { ownName: 'bmc-a' };

describe('D-Bus path labels (sdbusplus escaping)', () => {
  it('escapes as sdbusplus does: bmc-b is bmc_2db, a leading digit and the empty string too', () => {
    assert.equal(escapePathLabel('bmc-b'), 'bmc_2db');
    assert.equal(escapePathLabel('eth1'), 'eth1');
    assert.equal(escapePathLabel('1bmc'), '_31bmc');
    assert.equal(escapePathLabel(''), '_');
    assert.equal(escapePathLabel('a.b_c'), 'a_2eb_5fc');
    assert.equal(escapePathLabel('é'), '_c3_a9');
  });
  it('every label is a valid path element and unescapes to the original text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const label = escapePathLabel(s);
        assert.match(label, /^[A-Za-z0-9_]+$/);
        if (!s.includes('\uFFFD') && Buffer.from(s, 'utf8').toString('utf8') === s) assert.equal(unescapePathLabel(label), s);
      }),
    );
  });
});

describe('LLDP neighbour values', () => {
  it('accepts a host name and a unicast IPv4 address', () => {
    assert.deepEqual(checkNeighbour({ name: 'bmc-b', address: '169.254.1.2' }, own), {
      ok: true,
      neighbour: { name: 'bmc-b', address: '169.254.1.2' },
    });
  });
  const refused: Array<[string, { name: unknown; address: unknown }, RegExp]> = [
    ['missing name', { name: undefined, address: '10.0.0.1' }, /no SystemName/],
    ['empty name', { name: '', address: '10.0.0.1' }, /SystemName is empty/],
    ['a number as name', { name: 42, address: '10.0.0.1' }, /not a string/],
    ['a path in the name', { name: '../../etc/passwd', address: '10.0.0.1' }, /refused/],
    ['control characters', { name: 'bmc\n-b\u0000', address: '10.0.0.1' }, /refused/],
    ['a huge name', { name: 'x'.repeat(100_000), address: '10.0.0.1' }, /longer than 253/],
    ['our own name', { name: 'BMC-A', address: '10.0.0.1' }, /our own name/],
    ['"self"', { name: 'self', address: '10.0.0.1' }, /reserved/],
    ['"SELF"', { name: 'SELF', address: '10.0.0.1' }, /reserved/],
    ['a right-to-left override', { name: 'bmc-\u202eb', address: '10.0.0.1' }, /bmc-\\u202eb" refused/],
    ['missing address', { name: 'bmc-b', address: undefined }, /no management address/],
    ['empty address', { name: 'bmc-b', address: '' }, /address is empty/],
    ['a host name as address', { name: 'bmc-b', address: 'evil.example' }, /not an IPv4/],
    ['leading zeros', { name: 'bmc-b', address: '010.0.0.1' }, /not an IPv4/],
    ['loopback', { name: 'bmc-b', address: '127.0.0.1' }, /loopback/],
    ['unspecified', { name: 'bmc-b', address: '0.0.0.0' }, /unspecified/],
    ['multicast', { name: 'bmc-b', address: '224.0.0.1' }, /multicast/],
    ['broadcast', { name: 'bmc-b', address: '255.255.255.255' }, /broadcast/],
  ];
  for (const [what, raw, reason] of refused) {
    it(`refuses ${what} with a clear reason`, () => {
      const r = checkNeighbour(raw, own);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.match(r.reason, reason);
        assert.ok(r.reason.length < 300, 'the reason quotes a hostile value cut short');
        assert.ok(![...r.reason].some((c) => /[\p{Cc}\p{Cf}]/u.test(c)), 'no raw control or format characters in a log line');
      }
    });
  }
  it('quotes values for logs without control characters, cut at 64 characters', () => {
    assert.equal(quoteForLog('a\nb'), '"a\\nb"');
    assert.ok(quoteForLog('y'.repeat(1000)).length < 80);
    assert.equal(addressProblem('192.0.2.7'), undefined);
  });
});

describe('the neighbour table', () => {
  const names = lldpNames({
    lldp_service: 'xyz.openbmc_project.LLDP',
    lldp_object_root: '/xyz/openbmc_project/network/lldp',
    lldp_interface: 'xyz.openbmc_project.Network.LLDP.TLVs',
    lldp_name_property: 'SystemName',
    lldp_address_property: 'ManagementAddressIPv4',
    interface_id: 'eth1',
  });

  it('takes the receive object and objects below it, nothing else', () => {
    assert.equal(isNeighbourPath(names, R), true);
    assert.equal(isNeighbourPath(names, `${R}/n3`), true);
    assert.equal(isNeighbourPath(names, `${R}/n3/x`), false);
    assert.equal(isNeighbourPath(names, '/xyz/openbmc_project/network/lldp/eth0/receive'), false);
    assert.equal(isNeighbourPath(names, `${R}x`), false);
  });

  it('reports up, a new address, and gone', () => {
    const t = new NeighbourTable({ maxObjects: 8, ...own });
    assert.deepEqual(t.update(R, { name: 'bmc-b', address: '10.0.0.2' }, 'replace').changes, [
      { type: 'up', neighbour: { name: 'bmc-b', address: '10.0.0.2' } },
    ]);
    assert.deepEqual(t.update(R, { name: 'bmc-b', address: '10.0.0.2' }, 'replace').changes, [], 'nothing new');
    assert.deepEqual(t.update(R, { address: '10.0.0.9' }, 'merge').changes, [
      { type: 'up', neighbour: { name: 'bmc-b', address: '10.0.0.9' } },
    ]);
    assert.deepEqual(t.remove(R).changes, [{ type: 'gone', name: 'bmc-b' }]);
  });

  it('a value turning bad drops the neighbour, with the reason', () => {
    const t = new NeighbourTable({ maxObjects: 8, ...own });
    t.update(R, { name: 'bmc-b', address: '10.0.0.2' }, 'replace');
    const r = t.update(R, { name: '' }, 'merge');
    assert.deepEqual(r.changes, [{ type: 'gone', name: 'bmc-b' }]);
    assert.match(r.problems.join('\n'), /SystemName is empty/);
  });

  it('a name claimed twice: the first object wins while it lasts, the duplicate is reported', () => {
    const t = new NeighbourTable({ maxObjects: 8, ...own });
    t.update(`${R}/n1`, { name: 'bmc-b', address: '10.0.0.2' }, 'replace');
    const dup = t.update(`${R}/n2`, { name: 'bmc-b', address: '10.0.0.66' }, 'replace');
    assert.deepEqual(dup.changes, []);
    assert.match(dup.problems.join('\n'), /duplicate SystemName bmc-b .*10\.0\.0\.66.* stays at 10\.0\.0\.2/);
    assert.deepEqual(t.remove(`${R}/n1`).changes, [{ type: 'up', neighbour: { name: 'bmc-b', address: '10.0.0.66' } }]);
    assert.deepEqual(t.remove(`${R}/n2`).changes, [{ type: 'gone', name: 'bmc-b' }]);
  });

  it('resync reports only the difference', () => {
    const t = new NeighbourTable({ maxObjects: 8, ...own });
    t.update(`${R}/n1`, { name: 'bmc-b', address: '10.0.0.2' }, 'replace');
    t.update(`${R}/n2`, { name: 'bmc-c', address: '10.0.0.3' }, 'replace');
    const r = t.resync(
      new Map([
        [R, { name: 'bmc-c', address: '10.0.0.3' }],
        [`${R}/n3`, { name: 'bmc-d', address: '10.0.0.4' }],
      ]),
    );
    assert.deepEqual(r.changes, [
      { type: 'gone', name: 'bmc-b' },
      { type: 'up', neighbour: { name: 'bmc-d', address: '10.0.0.4' } },
    ]);
  });

  it('is bounded: thousands of objects never hold more than maxObjects, and the rest is reported', () => {
    const t = new NeighbourTable({ maxObjects: 100, ...own });
    let problems = 0;
    for (let i = 0; i < 5000; i++) {
      const r = t.update(`${R}/n${i}`, { name: `bmc-${i}`, address: `10.${i >> 8}.${i & 255}.1` }, 'replace');
      problems += r.problems.length;
    }
    assert.equal(t.size, 100);
    assert.equal(t.neighbours().length, 100);
    assert.equal(problems, 4900);
  });

  it('never throws and never reports a bad value as a neighbour, whatever the objects say', () => {
    const value = fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.constant(undefined), fc.constant(null), fc.ipV4(), fc.domain());
    const op = fc.record({ path: fc.constantFrom(R, `${R}/n1`, `${R}/n2`, `${R}/n3`), name: value, address: value, remove: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const t = new NeighbourTable({ maxObjects: 3, ...own });
        for (const o of ops) {
          const r = o.remove ? t.remove(o.path) : t.update(o.path, { name: o.name, address: o.address }, 'replace');
          for (const c of r.changes) {
            if (c.type === 'up') assert.equal(checkNeighbour(c.neighbour, own).ok, true);
          }
        }
        assert.ok(t.size <= 3);
        const seen = new Set(t.neighbours().map((n) => n.name));
        assert.equal(seen.size, t.neighbours().length, 'one neighbour per name');
      }),
    );
  });
});
