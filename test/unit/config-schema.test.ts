import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfigError, DEFAULT_CONF_PATH, EX_CONFIG, loadConfig, parseConfig } from '../../src/config/load-config.ts';
import { knownKeys } from '../../src/config/schema.ts';

const FILE = '/etc/provisioning/test.conf';

/** Parses and returns the ConfigError message; fails the test if the text is accepted. */
function errorOf(text: string): string {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail(`config was accepted: ${text}`);
}

/** The contract's error: one line naming the file and the field. */
function assertNamesFileAndField(message: string, field: string): void {
  assert.ok(!message.includes('\n'), `not one line: ${JSON.stringify(message)}`);
  assert.ok(message.startsWith(`${FILE}: `), `does not name the file: ${message}`);
  assert.ok(message.includes(`"${field}"`), `does not name the field ${field}: ${message}`);
}

describe('configuration defaults', () => {
  const { config, warnings, usedDefaults } = parseConfig('{}', FILE);

  it('an empty object gives every documented default', () => {
    assert.deepEqual(config, {
      port: 8090,
      cert_root: '/',
      interface_id: 'eth1',
      listen_addresses: [],
      retry_count: 3,
      retry_timer: 30,
      retry_base: 1,
      name: hostname(),
      state_dir: '/var/lib/provisioning',
      peers: [],
      inspect_port: 0,
      keepalive_interval: 5,
      keepalive_timeout: 3,
      handshake_timeout: 10,
      idle_timeout: 10,
      max_connections: 64,
      leaf_lifetime: 86400,
      ca_lifetime_days: 3650,
      attestation_timeout: 30,
      max_requested_peers: 64,
      failed_peer_lifetime: 600,
      token_timeout: 30,
      log_level: 'info',
      lldp_service: 'xyz.openbmc_project.LLDP',
      lldp_object_root: '/xyz/openbmc_project/network/lldp',
      lldp_interface: 'xyz.openbmc_project.Network.LLDP.TLVs',
      lldp_name_property: 'SystemName',
      lldp_address_property: 'ManagementAddressIPv4',
      lldp_max_neighbors: 256,
      metrics_port: 0,
      reattest_interval_s: 3600,
      reattest_max_unreachable: 3,
    });
    assert.equal(config.token, undefined, 'no token means the software token');
    assert.equal(config.stately_inspector_url, undefined);
    assert.deepEqual(warnings, []);
    assert.equal(usedDefaults, false);
  });

  it('a peer gets the default port, a token the default key label', () => {
    const { config: c } = parseConfig(
      JSON.stringify({
        peers: [{ name: 'bmc-b', address: '127.0.0.1' }],
        token: { module: '/usr/lib/softhsm/libsofthsm2.so', label: 'prov', pin_file: '/etc/pin' },
      }),
      FILE,
    );
    assert.deepEqual(c.peers, [{ name: 'bmc-b', address: '127.0.0.1', port: 8090 }]);
    assert.deepEqual(c.token, {
      module: '/usr/lib/softhsm/libsofthsm2.so',
      label: 'prov',
      pin_file: '/etc/pin',
      key_label: 'provisioningd-ca',
    });
  });

  it('given values are kept as written', () => {
    const { config: c } = parseConfig(
      JSON.stringify({ port: 9443, cert_root: '/tmp/x/', name: 'bmc-a', retry_timer: 0.5, retry_base: 0.1, inspect_port: 0 }),
      FILE,
    );
    assert.equal(c.port, 9443);
    assert.equal(c.cert_root, '/tmp/x/');
    assert.deepEqual(parseConfig('{"listen_addresses": ["169.254.0.1", "fe80::1%eth1", "::"]}', FILE).config.listen_addresses, ['169.254.0.1', 'fe80::1%eth1', '::']);
    assert.equal(c.name, 'bmc-a');
    assert.equal(c.retry_timer, 0.5);
    assert.equal(c.retry_base, 0.1);
  });

  it('the default --conf path and EX_CONFIG are the contract values', () => {
    assert.equal(DEFAULT_CONF_PATH, '/var/provisioning/provisioning.conf');
    assert.equal(EX_CONFIG, 78);
  });
});

describe('configuration errors', () => {
  it('text that is not JSON', () => {
    for (const text of ['{', '', 'port = 8090', '{"port": 8090,}']) {
      const m = errorOf(text);
      assert.ok(!m.includes('\n'), m);
      assert.match(m, new RegExp(`^${FILE}: not valid JSON: `));
    }
  });

  it('a top level that is not an object', () => {
    for (const text of ['[]', 'null', '8090', '"x"']) {
      assert.equal(errorOf(text), `${FILE}: the top level must be a JSON object`);
    }
  });

  it('a wrong type names the field', () => {
    assertNamesFileAndField(errorOf('{"port": "x"}'), 'port');
    assertNamesFileAndField(errorOf('{"cert_root": 5}'), 'cert_root');
    assertNamesFileAndField(errorOf('{"peers": {}}'), 'peers');
    assertNamesFileAndField(errorOf('{"retry_count": 1.5}'), 'retry_count');
    assertNamesFileAndField(errorOf('{"token": "softhsm"}'), 'token');
  });

  it('a port out of range names the field', () => {
    for (const port of [70000, 0, -1, 65536]) assertNamesFileAndField(errorOf(JSON.stringify({ port })), 'port');
    assertNamesFileAndField(errorOf('{"inspect_port": 70000}'), 'inspect_port');
    assertNamesFileAndField(errorOf('{"peers": [{"name": "bmc-b", "address": "127.0.0.1", "port": 70000}]}'), 'peers[0].port');
  });

  it('nested fields are named with their path', () => {
    assertNamesFileAndField(errorOf('{"peers": [{"name": "-bad", "address": "127.0.0.1"}]}'), 'peers[0].name');
    assertNamesFileAndField(errorOf('{"token": {"module": "/x.so"}}'), 'token.label');
  });

  it('other documented limits', () => {
    assertNamesFileAndField(errorOf('{"name": ""}'), 'name');
    assertNamesFileAndField(errorOf('{"name": "bad name"}'), 'name');
    assertNamesFileAndField(errorOf('{"interface_id": "an-interface-name-too-long"}'), 'interface_id');
    assertNamesFileAndField(errorOf('{"listen_addresses": ["eth1"]}'), 'listen_addresses[0]');
    assertNamesFileAndField(errorOf('{"listen_addresses": ["169.254.0.1%eth1"]}'), 'listen_addresses[0]');
    assertNamesFileAndField(errorOf('{"listen_addresses": "169.254.0.1"}'), 'listen_addresses');
    assertNamesFileAndField(errorOf('{"log_level": "verbose"}'), 'log_level');
    assertNamesFileAndField(errorOf('{"stately_inspector_url": "http://example.invalid"}'), 'stately_inspector_url');
    assertNamesFileAndField(errorOf('{"retry_timer": 0}'), 'retry_timer');
  });

  it('stately_inspector_url: unencrypted ws:// only to this machine, wss:// to any host', () => {
    const accepted = (url: string) => parseConfig(JSON.stringify({ stately_inspector_url: url }), FILE).config.stately_inspector_url;
    for (const url of ['ws://127.0.0.1:8080', 'ws://localhost:8080/relay', 'ws://[::1]:8080', 'wss://relay.example:8443', 'wss://127.0.0.1:8443']) {
      assert.equal(accepted(url), url);
    }
    // Another host in clear, however spelt: a user name before the host, upper case, a look-alike name.
    for (const url of ['ws://relay.example:8080', 'WS://RELAY.EXAMPLE', 'ws://localhost@relay.example/', 'ws://127.0.0.1.relay.example', 'ws://169.254.0.2:8080']) {
      const message = errorOf(JSON.stringify({ stately_inspector_url: url }));
      assertNamesFileAndField(message, 'stately_inspector_url');
      assert.match(message, /ws:\/\/ \(unencrypted\) may only name 127\.0\.0\.1, localhost or \[::1\]; use wss:\/\/ for another host$/, url);
    }
  });

  it('keys that contradict each other name the one to change', () => {
    const idle = errorOf('{"idle_timeout": 5, "keepalive_interval": 5, "keepalive_timeout": 3}');
    assertNamesFileAndField(idle, 'idle_timeout');
    assert.match(idle, /keepalive_interval \+ keepalive_timeout/);
    assertNamesFileAndField(errorOf('{"retry_base": 60, "retry_timer": 30}'), 'retry_base');
  });
});

describe('any configuration text', () => {
  /** Either a configuration, or a ConfigError of one line naming the file: never another exception. */
  function acceptedOrClearlyRefused(text: string): void {
    try {
      parseConfig(text, FILE);
    } catch (err) {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)} for ${text}`);
      assert.ok(!err.message.includes('\n'), `not one line: ${JSON.stringify(err.message)}`);
      assert.ok(err.message.startsWith(`${FILE}: `), `does not name the file: ${err.message}`);
    }
  }
  // Strings of any code points, control characters and newlines among them (an error that quotes a value must stay one line).
  const anyValue = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' });
  /** An object of some of `keys`, each with any JSON value, and now and then a key of no schema. */
  const someOf = (keys: ReadonlySet<string>) => fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 12 })), anyValue, { maxKeys: 8 });

  it('any text at all', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200, unit: 'binary' }), acceptedOrClearlyRefused), { numRuns: 300 });
  });

  it('any JSON value at the top level', () => {
    fc.assert(fc.property(anyValue, (v) => acceptedOrClearlyRefused(JSON.stringify(v))), { numRuns: 300 });
  });

  it('the documented keys with any values, a token and peers of any shape too', () => {
    const config = fc.record(
      {
        top: someOf(knownKeys.top),
        token: fc.oneof(someOf(knownKeys.token), anyValue),
        peers: fc.oneof(fc.array(someOf(knownKeys.peer), { maxLength: 3 }), anyValue),
      },
      { requiredKeys: ['top'] },
    );
    fc.assert(
      fc.property(config, ({ top, token, peers }) => {
        const value: Record<string, unknown> = { ...top };
        if (token !== undefined) value['token'] = token;
        if (peers !== undefined) value['peers'] = peers;
        acceptedOrClearlyRefused(JSON.stringify(value));
      }),
      { numRuns: 500 },
    );
  });
});

describe('unknown keys', () => {
  it('are warnings naming each key, and the rest still applies', () => {
    const { config, warnings } = parseConfig(
      JSON.stringify({
        port: 9000,
        prot: 1,
        token: { module: '/x.so', label: 'l', pin_file: '/p', pin: 'no' },
        peers: [{ name: 'bmc-b', address: '127.0.0.1', adress: 'x' }],
      }),
      FILE,
    );
    assert.equal(config.port, 9000);
    assert.deepEqual(warnings, [
      `${FILE}: unknown key "prot" ignored`,
      `${FILE}: unknown key "token.pin" ignored`,
      `${FILE}: unknown key "peers[0].adress" ignored`,
    ]);
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conf-unit-'));
  after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 60_000 });

  it('a missing file means defaults, flagged so the caller logs it once', () => {
    const loaded = loadConfig(join(dir, 'absent.conf'));
    assert.equal(loaded.usedDefaults, true);
    assert.equal(loaded.config.port, 8090);
    assert.equal(loaded.config.state_dir, '/var/lib/provisioning');
    assert.deepEqual(loaded.warnings, []);
  });

  it('reads a file and reports errors with its path', () => {
    const good = join(dir, 'good.conf');
    writeFileSync(good, '{"port": 9100}');
    assert.equal(loadConfig(good).config.port, 9100);
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, '{"port": 70000}');
    assert.throws(() => loadConfig(bad), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${bad}: field "port"`));
  });

  it('a path that exists but is not a readable file is an error, not defaults', () => {
    assert.throws(() => loadConfig(dir), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${dir}: cannot be read`));
  });
});
