/** Where the listeners belong: the addresses of one interface (pure part), and how a change is followed. */
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, it } from 'node:test';
import { followListenAddresses } from '../../src/net/listen-address-follower.ts';
import { watchListenAddresses } from '../../src/net/listen-address-watcher.ts';
import { hostPort, type InterfaceTable, interfaceListenHosts, isListenAddress } from '../../src/net/listen-hosts.ts';
import { captureLog } from '../harness/capture-log.ts';

const v4 = (address: string): NetworkInterfaceInfo => ({ address, family: 'IPv4', netmask: '255.255.0.0', mac: '02:00:00:00:00:01', internal: false, cidr: `${address}/16` });
const v6 = (address: string, scopeid: number): NetworkInterfaceInfo => ({ address, family: 'IPv6', netmask: 'ffff:ffff:ffff:ffff::', mac: '02:00:00:00:00:01', internal: false, cidr: `${address}/64`, scopeid });

/** Watches eth1's addresses every 5 ms through `read`, as the responder does. */
const watchEth1 = (o: { log: ReturnType<typeof captureLog>['log']; read: () => InterfaceTable; onChange: (hosts: readonly string[]) => void }) =>
  watchListenAddresses({ explicit: [], interfaceId: 'eth1', what: 'responder', log: o.log, pollMs: 5, readInterfaces: o.read, onChange: o.onChange });

describe('the listen addresses of an interface', () => {
  it('are the interface’s own addresses only, link-local IPv6 with its zone, sorted', () => {
    const table: InterfaceTable = {
      lo: [v4('127.0.0.1'), v6('::1', 0)],
      eth0: [v4('192.0.2.2')],
      eth1: [v6('fe80::1', 3), v4('169.254.0.9'), v6('fd00::9', 0), v4('169.254.0.1')],
    };
    assert.deepEqual(interfaceListenHosts(table, 'eth1'), ['169.254.0.1', '169.254.0.9', 'fd00::9', 'fe80::1%eth1']);
    assert.deepEqual(interfaceListenHosts(table, 'eth7'), [], 'an interface without addresses (or none at all) has none');
  });

  it('a configured address is an IP address; only IPv6 takes a zone', () => {
    for (const ok of ['169.254.0.1', '::', '0.0.0.0', 'fe80::1%eth1', 'fd00::1']) assert.equal(isListenAddress(ok), true, ok);
    for (const bad of ['eth1', 'localhost', '169.254.0.1%eth1', 'fe80::1%', 'fe80::1%a%b', '', '300.1.1.1']) assert.equal(isListenAddress(bad), false, bad);
    assert.equal(hostPort('fe80::1%eth1', 8090), '[fe80::1%eth1]:8090');
    assert.equal(hostPort('169.254.0.1', 8090), '169.254.0.1:8090');
  });
});

describe('watchListenAddresses', () => {
  it('an explicit list is used as it is and never read again', () => {
    const seen: (readonly string[])[] = [];
    const { log } = captureLog();
    const watch = watchListenAddresses({
      explicit: ['169.254.0.1', '127.0.0.1'],
      interfaceId: 'eth1',
      what: 'responder',
      log,
      onChange: (h) => seen.push(h),
      readInterfaces: () => assert.fail('the interface table is not read'),
    });
    watch.close();
    assert.deepEqual(seen, [['127.0.0.1', '169.254.0.1']]);
  });

  it('follows the interface: waits (logged once) while it has no address, then reports each change', async () => {
    let table: InterfaceTable = { eth0: [v4('192.0.2.2')] };
    const seen: (readonly string[])[] = [];
    let wake: (() => void) | undefined;
    const captured = captureLog();
    const watch = watchEth1({
      log: captured.log,
      read: () => table,
      onChange: (h) => {
        seen.push(h);
        wake?.();
      },
    });
    const nextChange = async () => {
      const before = seen.length;
      const deadline = Date.now() + 10_000;
      while (seen.length === before && Date.now() < deadline) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
      assert.ok(seen.length > before, 'a change is reported within the deadline');
      return seen.at(-1);
    };
    try {
      assert.deepEqual(seen, [[]], 'the first reading is reported at once, even when empty');
      await new Promise((r) => setTimeout(r, 50)); // ten readings of the same empty set
      assert.equal(seen.length, 1, 'an unchanged set is not reported again');
      assert.equal(captured.lines().filter((l) => l.includes('LISTEN_ADDRESS_WAIT')).length, 1, 'waiting is logged once');

      table = { ...table, eth1: [v4('169.254.0.1')] };
      assert.deepEqual(await nextChange(), ['169.254.0.1']);
      table = { ...table, eth1: [v4('169.254.0.1'), v4('169.254.0.2')] };
      assert.deepEqual(await nextChange(), ['169.254.0.1', '169.254.0.2']);
      table = { ...table, eth1: [v4('169.254.0.2')] };
      assert.deepEqual(await nextChange(), ['169.254.0.2']);
      table = { eth0: [v4('192.0.2.2')] };
      assert.deepEqual(await nextChange(), []);
      assert.equal(captured.lines().filter((l) => l.includes('LISTEN_ADDRESS_WAIT')).length, 2, 'losing the last address is logged again');
    } finally {
      watch.close();
    }
    const count = seen.length;
    table = { eth1: [v4('169.254.0.3')] };
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.length, count, 'nothing is reported after close()');
  });
});

describe('an interface table that cannot be read', () => {
  it('is logged once while it fails the same way, and once more when it can be read again', async () => {
    let failing = true;
    const seen: (readonly string[])[] = [];
    const captured = captureLog();
    const watch = watchEth1({
      log: captured.log,
      read: () => {
        if (failing) throw new Error('uv_interface_addresses returned Unknown system error 97');
        return { eth1: [v4('169.254.0.1')] };
      },
      onChange: (h) => seen.push(h),
    });
    const failed = () => captured.lines().filter((l) => l.includes('cannot read the addresses of eth1')).length;
    try {
      await new Promise((r) => setTimeout(r, 60)); // about twelve failed readings
      assert.equal(failed(), 1, 'a failure that persists is one line, not one per reading');
      assert.deepEqual(seen, [], 'nothing is reported while the table cannot be read');
      failing = false;
      const deadline = Date.now() + 10_000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(seen, [['169.254.0.1']], 'the addresses are followed once they can be read');
      assert.equal(captured.lines().filter((l) => l.includes('can be read again')).length, 1, 'the recovery is logged');
    } finally {
      watch.close();
    }
  });
});

describe('followListenAddresses', () => {
  /** A listener double: binds every address except those in `refuse`. */
  function fakeListener(refuse: Set<string>) {
    const applied: (readonly string[])[] = [];
    return {
      applied,
      apply: async (hosts: readonly string[]) => {
        applied.push(hosts);
        const failed = hosts.filter((h) => refuse.has(h)).map((host) => ({ host, code: 'EADDRINUSE', reason: `${host} in use` }));
        return { failed, listening: hosts.filter((h) => !refuse.has(h)) };
      },
    };
  }
  const until = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(check(), what);
  };

  it('fails its start when none of the first addresses can be bound, and stops', async () => {
    const l = fakeListener(new Set(['169.254.0.1']));
    const failures: string[] = [];
    const f = followListenAddresses({ explicit: ['169.254.0.1'], interfaceId: 'eth1', what: 'x', log: captureLog().log, pollMs: 5, apply: l.apply, onFailure: (r) => failures.push(r) });
    await assert.rejects(f.started, /169\.254\.0\.1 in use/);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(l.applied.length, 1, 'no retry after a failed start');
    assert.deepEqual(failures, []);
  });

  it('an empty interface is a good start; an address bound later; one that fails is retried until it binds; total failure later is reported, not fatal', async () => {
    let table: InterfaceTable = {};
    const refuse = new Set<string>();
    const l = fakeListener(refuse);
    const failures: string[] = [];
    const f = followListenAddresses({ explicit: [], interfaceId: 'eth1', what: 'x', log: captureLog().log, pollMs: 5, readInterfaces: () => table, apply: l.apply, onFailure: (r) => failures.push(r) });
    try {
      await f.started;
      assert.deepEqual(l.applied, [[]]);
      refuse.add('169.254.0.2');
      table = { eth1: [v4('169.254.0.1'), v4('169.254.0.2')] };
      await until(() => l.applied.length >= 3, 'the failed address is tried again');
      assert.deepEqual(l.applied[1], ['169.254.0.1', '169.254.0.2']);
      assert.deepEqual(failures, [], 'one address listening is no failure');
      refuse.delete('169.254.0.2');
      const count = l.applied.length;
      await new Promise((r) => setTimeout(r, 30));
      assert.ok(l.applied.length <= count + 1, 'once everything is bound, nothing is applied again');
      refuse.add('169.254.0.3');
      table = { eth1: [v4('169.254.0.3')] };
      await until(() => failures.length > 0, 'listening nowhere after the start is reported');
      assert.equal(failures[0], '169.254.0.3 in use');
    } finally {
      f.close();
    }
  });
});
