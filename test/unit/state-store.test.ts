import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { StateFileError, StateStore } from '../../src/state/state-store.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { eventually } from '../harness/daemon.ts';
import { stallFileSystem } from '../harness/stalled-file-system.ts';

const root = mkdtempSync(join(tmpdir(), 'state-unit-'));
let n = 0;
/** A fresh, not yet existing state_dir per test. */
const freshDir = () => join(root, `s${++n}`, 'state');
/** A store on a fresh state_dir, loaded as the daemon does at start. */
function loadedStore(): { dir: string; store: StateStore } {
  const dir = freshDir();
  const store = new StateStore(dir);
  store.load();
  return { dir, store };
}
/** A state_dir path where a file stands, so that every write fails. */
function blockedDir(): string {
  const parent = join(root, `s${++n}`);
  mkdirSync(parent, { recursive: true });
  const dir = join(parent, 'state');
  writeFileSync(dir, 'a file where state_dir should be');
  return dir;
}

after(() => rmSync(root, { recursive: true, force: true }), { timeout: 60_000 });

describe('state store: writing', () => {
  it('a fresh directory reads as not provisioned, with no problem and no file created', () => {
    const store = new StateStore(freshDir());
    assert.deepEqual(store.load(), { state: { version: 2, provisioned: false } });
    assert.equal(existsSync(store.file), false);
  });

  it('save creates state_dir 0700 and state.json 0600 holding exactly the state', async () => {
    const { dir, store } = loadedStore();
    await store.save({ version: 2, provisioned: true });
    assert.equal(store.file, join(dir, 'state.json'));
    assert.deepEqual(JSON.parse(readFileSync(store.file, 'utf8')), { version: 2, provisioned: true });
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(store.file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['state.json'], 'no temp file left behind');
    assert.deepEqual(new StateStore(dir).load(), { state: { version: 2, provisioned: true } });
  });

  it('saves run in order: the last one wins', async () => {
    const { dir, store } = loadedStore();
    void store.save({ version: 2, provisioned: true });
    void store.save({ version: 2, provisioned: false });
    const last = store.save({ version: 2, provisioned: true });
    await last;
    await store.flushed();
    assert.deepEqual(new StateStore(dir).load().state, { version: 2, provisioned: true });
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  it('saves made while a write is in flight are coalesced: the next write holds the last of them', async () => {
    const { dir, store } = loadedStore();
    const at = (ms: number) => ({ version: 2 as const, provisioned: true, peers: { 'bmc-b': { lastAttestedMs: ms, verdict: 'passed' as const } } });
    const first = store.save(at(1));
    const second = store.save(at(2));
    void store.save(at(3));
    const fourth = store.save(at(4));
    await first;
    await second;
    // The second save settled with the write that followed the first: it holds the fourth state.
    assert.deepEqual(new StateStore(dir).load().state, at(4));
    await fourth;
    await store.flushed();
    assert.deepEqual(new StateStore(dir).load().state, at(4));
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  it('a reader never sees a torn file while writes are going on', async () => {
    const { dir, store } = loadedStore();
    await store.save({ version: 2, provisioned: true });
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        const text = readFileSync(store.file, 'utf8');
        const parsed = JSON.parse(text) as { version: number; provisioned: boolean };
        assert.equal(parsed.version, 2);
        assert.equal(typeof parsed.provisioned, 'boolean');
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 40; i++) await store.save({ version: 2, provisioned: i % 2 === 1 });
    writing = false;
    await reader;
    assert.ok(reads > 0);
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  it('an unchanged state is not rewritten', async () => {
    const { store } = loadedStore();
    await store.save({ version: 2, provisioned: true });
    const before = statSync(store.file).ino;
    await store.save({ version: 2, provisioned: true });
    assert.equal(statSync(store.file).ino, before, 'same inode: no rename happened');
  });

  it('a failed write rejects, and flushed() reports it', async () => {
    const dir = blockedDir();
    const store = new StateStore(dir);
    await assert.rejects(store.save({ version: 2, provisioned: true }));
    await assert.rejects(store.flushed());
    assert.equal(readFileSync(dir, 'utf8'), 'a file where state_dir should be', 'nothing lost');
  });

  it('two saves of the same state while the first is in flight write once', async () => {
    const { dir, store } = loadedStore();
    const first = store.save({ version: 2, provisioned: true });
    const second = store.save({ version: 2, provisioned: true });
    await first;
    const inode = statSync(store.file).ino;
    await second;
    assert.equal(statSync(store.file).ino, inode, 'the second save did not rename a new file in');
    assert.deepEqual(readdirSync(dir).sort(), ['state.json']);
  });

  it('after a failed write, saving the same state again tries again', async () => {
    const dir = blockedDir();
    const store = new StateStore(dir);
    await assert.rejects(store.save({ version: 2, provisioned: true }));
    rmSync(dir);
    await store.save({ version: 2, provisioned: true });
    assert.deepEqual(JSON.parse(readFileSync(store.file, 'utf8')), { version: 2, provisioned: true });
  });

  it('a temp file left by a crash mid-write does not change what is read', async () => {
    const { dir, store } = loadedStore();
    await store.save({ version: 2, provisioned: true });
    writeFileSync(join(dir, '.state.json.0123456789ab.tmp'), '{"version":1,"provis');
    assert.deepEqual(new StateStore(dir).load(), { state: { version: 2, provisioned: true } });
  });
});

describe('state store: versions and attestation records', () => {
  it('a version-1 file (before re-attestation) still loads, and the next save writes version 2', async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'state.json'), '{"version":1,"provisioned":true}\n');
    const store = new StateStore(dir);
    assert.deepEqual(store.load(), { state: { version: 2, provisioned: true } });
    await store.save({ version: 2, provisioned: true });
    assert.deepEqual(JSON.parse(readFileSync(store.file, 'utf8')), { version: 2, provisioned: true }, 'rewritten in the new version');
  });

  it('the last attestation of each peer is written with the flag and read back; an unchanged state is not written again', async () => {
    const { dir, store } = loadedStore();
    const peers = { 'bmc-b': { lastAttestedMs: 1_700_000_000_000, verdict: 'passed' as const }, 'bmc-c': { verdict: 'revoked' as const } };
    await store.save({ version: 2, provisioned: true, peers });
    const written = statSync(store.file).mtimeMs;
    assert.deepEqual(new StateStore(dir).load(), { state: { version: 2, provisioned: true, peers } });
    await new Promise((r) => setTimeout(r, 20));
    await store.save({ version: 2, provisioned: true, peers: { ...peers } });
    assert.equal(statSync(store.file).mtimeMs, written, 'same content: no write');
    await store.save({ version: 2, provisioned: true, peers: { ...peers, 'bmc-b': { lastAttestedMs: 1_700_000_003_600, verdict: 'passed' } } });
    assert.equal(new StateStore(dir).load().state.peers?.['bmc-b']?.lastAttestedMs, 1_700_000_003_600, 'a new attestation time is written');
  });
});

describe('state store: any file content', () => {
  it('is read as a state it holds, or reported, kept aside byte for byte and read as not provisioned; never an exception', () => {
    const valid = JSON.stringify({ version: 2, provisioned: true, peers: { 'bmc-b': { lastAttestedMs: 1_700_000_000_000, verdict: 'passed' } } });
    const content = fc.oneof(
      // A write cut anywhere (a crash of a writer that did not write atomically).
      fc.nat({ max: valid.length }).map((k) => Buffer.from(valid.slice(0, k))),
      // Any JSON, strings of any code points.
      fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }).map((v) => Buffer.from(JSON.stringify(v) ?? '')),
      // A valid state with one byte changed.
      fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
        const bytes = Buffer.from(valid);
        bytes[i] = b;
        return bytes;
      }),
      // Any bytes.
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(content, (bytes) => {
        const dir = freshDir();
        mkdirSync(dir, { recursive: true });
        const file = join(dir, 'state.json');
        writeFileSync(file, bytes);
        const loaded = new StateStore(dir).load();
        if (loaded.problem === undefined) {
          // Accepted: what it read is what the file says, the file left in place.
          const parsed = JSON.parse(bytes.toString('utf8')) as { provisioned: unknown };
          assert.equal(loaded.state.provisioned, parsed.provisioned);
          assert.deepEqual(readFileSync(file), bytes);
          return;
        }
        assert.deepEqual(loaded.state, { version: 2, provisioned: false }, 'a corrupt file reads as not provisioned');
        assert.ok(loaded.problem.includes(file), `names the file: ${loaded.problem}`);
        const aside = readdirSync(dir).filter((f) => f.startsWith('state.json.corrupt-'));
        assert.equal(aside.length, 1, readdirSync(dir).join(', '));
        assert.deepEqual(readFileSync(join(dir, aside[0] ?? '')), bytes, 'kept aside byte for byte');
        assert.equal(existsSync(file), false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('state store: a corrupt file', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['truncated', '{"version":1,"provisi', /is not valid JSON/],
    ['garbage', '\u0000\u00ff garbage \n', /is not valid JSON/],
    ['empty', '', /is not valid JSON/],
    ['unexpected content', '{"version":3,"provisioned":true}', /has unexpected content/],
    ['a bad attestation record', '{"version":2,"provisioned":true,"peers":{"bmc-b":{"verdict":"maybe"}}}', /has unexpected content/],
    ['an extra key', '{"version":1,"provisioned":true,"key":"x"}', /has unexpected content/],
    ['a wrong type', '{"version":1,"provisioned":"yes"}', /has unexpected content/],
  ];
  for (const [what, text, why] of cases) {
    it(`${what}: reported, kept aside, read as not provisioned`, async () => {
      const dir = freshDir();
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'state.json');
      writeFileSync(file, text);
      const store = new StateStore(dir);
      const loaded = store.load();
      assert.deepEqual(loaded.state, { version: 2, provisioned: false });
      assert.ok(loaded.problem, 'a problem is reported');
      assert.ok(loaded.problem.includes(file), `names the file: ${loaded.problem}`);
      assert.match(loaded.problem, why);
      assert.match(loaded.problem, /treated as not provisioned/);
      const aside = readdirSync(dir).filter((f) => f.startsWith('state.json.corrupt-'));
      assert.equal(aside.length, 1, `one quarantined copy: ${readdirSync(dir).join(', ')}`);
      const [kept] = aside;
      assert.ok(kept);
      assert.ok(loaded.problem.includes(join(dir, kept)), 'the message says where the file went');
      assert.equal(readFileSync(join(dir, kept), 'utf8'), text, 'the bad content is kept byte for byte');
      assert.equal(existsSync(file), false);

      await store.save({ version: 2, provisioned: true });
      assert.deepEqual(new StateStore(dir).load(), { state: { version: 2, provisioned: true } });
    });
  }

  it('a state.json that cannot be read (here a directory: EISDIR) stops the load, and is left as it is', () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'state.json'), { recursive: true });
    writeFileSync(join(dir, 'state.json', 'inside'), 'kept');
    const store = new StateStore(dir);
    assert.throws(
      () => store.load(),
      (err: unknown) => {
        assert.ok(err instanceof StateFileError);
        assert.equal(err.code, 'STATE_FILE_UNREADABLE');
        assert.ok(err.message.includes(join(dir, 'state.json')), err.message);
        assert.match(err.message, /cannot be read \(EISDIR/);
        assert.match(err.message, /left as it is/);
        return true;
      },
    );
    assert.ok(statSync(join(dir, 'state.json')).isDirectory(), 'left in place');
    assert.equal(readFileSync(join(dir, 'state.json', 'inside'), 'utf8'), 'kept');
    assert.deepEqual(readdirSync(dir), ['state.json'], 'nothing moved aside, nothing written');
  });

  it('a state_dir that is a file (ENOTDIR) stops the load too', () => {
    const dir = blockedDir();
    assert.throws(() => new StateStore(dir).load(), (err: unknown) => err instanceof StateFileError && err.code === 'STATE_FILE_UNREADABLE' && /ENOTDIR/.test(err.message));
    assert.equal(readFileSync(dir, 'utf8'), 'a file where state_dir should be');
  });

  it('a corrupt state.json that cannot be moved aside (immutable) stops the load: nothing kept aside, the file as it was', () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'state.json');
    writeFileSync(file, '{"version":2,"provisi');
    // chattr +i: not even root may rename the file (but may read it).
    execFileSync('chattr', ['+i', file], { timeout: 10_000 });
    try {
      assert.throws(
        () => new StateStore(dir).load(),
        (err: unknown) => {
          assert.ok(err instanceof StateFileError);
          assert.equal(err.code, 'STATE_FILE_CORRUPT');
          assert.ok(err.message.includes(file), err.message);
          assert.match(err.message, /is not valid JSON/);
          assert.match(err.message, /could not be moved aside \(EPERM/);
          assert.match(err.message, /nothing was kept aside/);
          assert.doesNotMatch(err.message, /; kept as /);
          return true;
        },
      );
      assert.deepEqual(readdirSync(dir), ['state.json'], 'no copy claimed or made');
      assert.equal(readFileSync(file, 'utf8'), '{"version":2,"provisi', 'the file as it was');
    } finally {
      execFileSync('chattr', ['-i', file], { timeout: 10_000 });
    }
  });
});

describe('state store: a disk that hangs', () => {
  it('a save the disk does not take in time rejects with a timeout; the late write never lands after a later one', async () => {
    const dir = freshDir();
    const store = new StateStore(dir, { writeTimeoutMs: 1000 });
    store.load();
    const at = (ms: number) => ({ version: 2 as const, provisioned: true, peers: { 'bmc-b': { lastAttestedMs: ms, verdict: 'passed' as const } } });
    await store.save(at(1));

    const release = await stallFileSystem(join(root, `fifos${++n}`));
    let released = false;
    try {
      // The store's own deadline answers; the test's (far longer) only keeps a regression from hanging.
      const storeTimedOut = (err: Error) => err.name === 'TimeoutError' && err.message === `writing ${store.file} timed out after 1000 ms`;
      const bounded = (p: Promise<void>) => withTimeout(p, 30_000, 'the test waiting for the store');
      await assert.rejects(bounded(store.save(at(2))), storeTimedOut);
      await assert.rejects(bounded(store.flushed()), storeTimedOut, 'flushed() gives up too');
      // Made while the first write still hangs: it waits for that write to end, then writes.
      await assert.rejects(bounded(store.save(at(3))), storeTimedOut);
      await release();
      released = true;
    } finally {
      if (!released) await release();
    }
    // Once the disk answers again, the queued state is written; the one that ran out of time is not renamed in after it.
    const landed = await eventually(() => {
      try {
        return JSON.parse(readFileSync(store.file, 'utf8')).peers['bmc-b'].lastAttestedMs === 3;
      } catch {
        return false;
      }
    }, 15_000);
    assert.ok(landed, `the last state reached the disk: ${readFileSync(store.file, 'utf8')}`);
    await store.flushed();
    assert.deepEqual(new StateStore(dir).load().state, at(3));
    assert.deepEqual(readdirSync(dir), ['state.json'], 'no temp file left behind');
  });
});
