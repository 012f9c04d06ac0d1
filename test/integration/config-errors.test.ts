import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { busctl, eventually, getProperty, REPO, SERVICE } from '../harness/daemon.ts';
import { STARTUP_DEADLINE_MS } from '../harness/startup-deadline.ts';

const EX_CONFIG = 78;
const EX_USAGE = 64;

describe('configuration errors and warnings (the daemon process)', () => {
  const fixture = useBusFixture();
  const theBus = fixture.bus;

  /** Starts the daemon on a config file holding `text` verbatim and waits for it to exit. */
  const runWithConfig = async (text: string) => {
    const d = await fixture.startDaemon({ rawConfig: text, waitForName: false });
    // Start-up (tsx) is in this wait: the net for a loaded machine, not a measured time.
    const exit = await withTimeout(d.exited(), STARTUP_DEADLINE_MS, 'daemon exit');
    return { ...exit, output: d.output(), confPath: d.confPath };
  };

  /** The contract: exit 78, and exactly one line that names the file (and the field, when there is one). */
  const assertConfigError = (r: { code: number | null; output: string; confPath: string }, field?: string) => {
    assert.equal(r.code, EX_CONFIG, r.output);
    const lines = r.output.trimEnd().split('\n');
    assert.equal(lines.length, 1, `one line, got:\n${r.output}`);
    const line = lines[0] ?? '';
    assert.ok(line.includes(r.confPath), `names the file: ${line}`);
    if (field) assert.ok(line.includes(`"${field}"`), `names the field ${field}: ${line}`);
  };

  it('a file that is not JSON: exit 78, one line naming the file', async () => {
    const r = await runWithConfig('{ "port": 8090,\n  "cert_root": "/tmp/x/"\n');
    assertConfigError(r);
    assert.match(r.output, /not valid JSON/);
    assert.equal((await busctl(theBus(), 'status', SERVICE)).code === 0, false, 'the name was never owned');
  });

  it('a wrong type ("port": "x"): exit 78, one line naming the file and the field', async () => {
    assertConfigError(await runWithConfig('{"port": "x"}'), 'port');
  });

  it('a port out of range (70000): exit 78, one line naming the file and the field', async () => {
    assertConfigError(await runWithConfig('{"port": 70000}'), 'port');
  });

  it('a nested field out of range names its path', async () => {
    assertConfigError(await runWithConfig('{"peers": [{"name": "bmc-b", "address": "127.0.0.1", "port": 0}]}'), 'peers[0].port');
  });

  it('an unencrypted stately_inspector_url to another host: exit 78 naming the field and the rule', async () => {
    const r = await runWithConfig('{"stately_inspector_url": "ws://192.0.2.1:8080"}');
    assertConfigError(r, 'stately_inspector_url');
    assert.match(r.output, /ws:\/\/ \(unencrypted\) may only name 127\.0\.0\.1, localhost or \[::1\]; use wss:\/\/ for another host/);
  });

  it('an unknown key is a warning naming it, and the daemon runs', async () => {
    const d = await fixture.startDaemon({ config: { colour: 'blue', retry_count: 2 } });
    const warnings = d.output().split('\n').filter((l) => l.includes('unknown key'));
    assert.equal(warnings.length, 1, d.output());
    assert.match(warnings[0] ?? '', /\bwarn\b.*"colour"/);
    assert.ok(warnings[0]?.includes(d.confPath), 'the warning names the file');
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
    await d.stop();
    assert.equal(d.process.exitCode, 0);
  });

  it('a peer whose address is a host name is a warning at start (it can never be attested), and the daemon runs', async () => {
    const d = await fixture.startDaemon({ config: { peers: [{ name: 'bmc-b', address: 'bmc-b.rack.example' }, { name: 'bmc-c', address: '192.0.2.3' }] } });
    const warnings = d.output().split('\n').filter((l) => l.includes('PEER_NOT_ATTESTABLE'));
    assert.equal(warnings.length, 1, d.output());
    assert.match(warnings[0] ?? '', /\bwarn\b.*peer bmc-b has the host name "bmc-b\.rack\.example".*never attested/);
    assert.ok(warnings[0]?.includes(d.confPath), 'the warning names the file');
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
    await d.stop();
    assert.equal(d.process.exitCode, 0);
  });

  it('an unknown option is a usage error (exit 64)', async () => {
    const child = fixture.track(spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/main.ts'), '--config', '/tmp/x.conf'], {
      cwd: REPO,
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: theBus().address },
      stdio: ['ignore', 'ignore', 'pipe'],
    }));
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await withTimeout(new Promise<number | null>((res) => child.once('exit', (c) => res(c))), STARTUP_DEADLINE_MS, 'exit');
    assert.equal(code, EX_USAGE, stderr);
    assert.match(stderr, /usage: provisioningd \[--conf FILE\]/);
  });

  it('an invalid host name is refused as the default of "name" (exit 78 naming the field), not put in a certificate', async () => {
    // A UTS namespace gives the daemon a host name of its own (written to the kernel directly:
    // hostname(1) refuses "_"); the tmpfs mounts keep the real state
    // untouched should it run after all.
    const missing = '/nonexistent/provisioning.conf';
    const script = 'echo bmc_1 > /proc/sys/kernel/hostname && mount -t tmpfs tmpfs /etc/ssl/certs && mount -t tmpfs tmpfs /var/lib && exec "$@"';
    const child = fixture.track(spawn(
      'unshare',
      ['--uts', '--mount', '--net', '--propagation', 'private', 'sh', '-c', script, 'sh', process.execPath, '--import', 'tsx', join(REPO, 'src/main.ts'), '--conf', missing],
      { cwd: REPO, env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: theBus().address }, stdio: ['ignore', 'pipe', 'pipe'] },
    ));
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const code = await withTimeout(new Promise<number | null>((res) => child.once('exit', (c) => res(c))), STARTUP_DEADLINE_MS, 'daemon exit');
    assertConfigError({ code, output: out, confPath: missing }, 'name');
    assert.match(out, /not in the file: its default/);
    assert.match(out, /must be a host name/);
  });

  it('a missing file means defaults, logged once (run in its own mount and network namespace)', async () => {
    // The defaults point at the real /etc/ssl/certs and /var/lib/provisioning: hide both behind
    // tmpfs mounts that only this daemon sees, and give it a network namespace of its own.
    const missing = '/nonexistent/provisioning.conf';
    assert.equal(existsSync(missing), false);
    const script = 'mount -t tmpfs tmpfs /etc/ssl/certs && mount -t tmpfs tmpfs /var/lib && exec "$@"';
    const child = fixture.track(spawn(
      'unshare',
      ['--mount', '--net', '--propagation', 'private', 'sh', '-c', script, 'sh', process.execPath, '--import', 'tsx', join(REPO, 'src/main.ts'), '--conf', missing],
      { cwd: REPO, env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: theBus().address }, stdio: ['ignore', 'pipe', 'pipe'] },
    ));
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    const owned = await eventually(async () => child.exitCode !== null || (await busctl(theBus(), 'status', SERVICE)).code === 0, STARTUP_DEADLINE_MS);
    assert.ok(owned && child.exitCode === null, `the daemon runs on defaults:\n${out}`);
    const notes = out.split('\n').filter((l) => l.includes(missing));
    assert.equal(notes.length, 1, `logged once:\n${out}`);
    assert.match(notes[0] ?? '', /no such file, running on defaults/);
    assert.equal(await getProperty(theBus(), 'provisioned'), 'false');
    child.kill('SIGTERM');
    assert.equal(await withTimeout(exited, 15_000, 'exit'), 0, out);
  });
});
