import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonObjectStream } from '../../src/lldp/json-object-stream.ts';
import { parseLldpdReport } from '../../src/lldp/lldpd-json.ts';

/** A neighbour entry as `lldpcli -f json0` prints it (trimmed to the fields used). */
const entry = (name: string, ip: string, rid = '1') => ({
  name: 'eth1',
  via: 'LLDP',
  rid,
  chassis: [{ id: [{ type: 'mac', value: `aa:bb:cc:00:00:0${rid}` }], name: [{ value: name }], 'mgmt-ip': [{ value: 'fe80::1' }, { value: ip }] }],
  port: [{ id: [{ type: 'mac', value: `aa:bb:cc:00:00:0${rid}` }], descr: [{ value: 'eth1' }] }],
});

describe('lldpcli json0 documents', () => {
  it('reads the table of show neighbors, with both address families', () => {
    const r = parseLldpdReport({ lldp: [{ interface: [entry('bmc-b', '169.254.1.2')] }] });
    assert.equal(r?.kind, 'table');
    assert.deepEqual(r?.neighbours, [
      {
        localInterface: 'eth1',
        rid: '1',
        chassisId: 'aa:bb:cc:00:00:01',
        portId: 'aa:bb:cc:00:00:01',
        systemName: 'bmc-b',
        managementAddressIPv4: '169.254.1.2',
        managementAddressIPv6: 'fe80::1',
      },
    ]);
  });
  it('reads watch events, and an empty table', () => {
    assert.equal(parseLldpdReport({ 'lldp-added': [{ interface: [entry('b', '1.2.3.4')] }] })?.kind, 'added');
    assert.equal(parseLldpdReport({ 'lldp-deleted': [{ interface: [entry('b', '1.2.3.4')] }] })?.kind, 'deleted');
    assert.deepEqual(parseLldpdReport({ lldp: [{}] }), { kind: 'table', neighbours: [] });
    assert.equal(parseLldpdReport({ other: 1 }), undefined);
  });
  it('survives malformed documents: missing fields become empty strings, junk is skipped', () => {
    const r = parseLldpdReport({ lldp: [{ interface: [{ name: 'eth1', chassis: 'junk' }, 7, null, { chassis: [] }] }] });
    assert.deepEqual(r?.neighbours.map((n) => [n.localInterface, n.systemName, n.managementAddressIPv4]), [['eth1', '', '']]);
  });
});

describe('the watch stream splitter', () => {
  it('splits pretty-printed objects across arbitrary chunk boundaries, braces inside strings included', () => {
    const docs = [{ 'lldp-added': [{ interface: [entry('we{ird}"name', '1.2.3.4')] }] }, { 'lldp-deleted': [] }];
    const text = docs.map((d) => JSON.stringify(d, null, 2)).join('\n');
    for (const size of [1, 3, 17, 1000]) {
      const got: unknown[] = [];
      const s = new JsonObjectStream((v) => got.push(v), (m) => assert.fail(m));
      for (let i = 0; i < text.length; i += size) s.push(text.slice(i, i + size));
      assert.deepEqual(got, docs, `chunks of ${size}`);
    }
  });
  it('reports unparsable objects and drops an endless one without growing', () => {
    const problems: string[] = [];
    const s = new JsonObjectStream(() => undefined, (m) => problems.push(m), 1000);
    s.push('{ not json }');
    s.push(`{"a": "${'x'.repeat(5000)}`);
    assert.equal(problems.length, 2);
    assert.match(problems[1] ?? '', /longer than 1000 bytes/);
    const got: unknown[] = [];
    const t = new JsonObjectStream((v) => got.push(v), () => undefined, 1000);
    t.push(`{"a": "${'x'.repeat(5000)}`);
    t.push('{"b": 1}');
    assert.deepEqual(got, [{ b: 1 }], 'after the dropped object, the next one is read');
  });
});
