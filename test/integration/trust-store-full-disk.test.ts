/**
 * The trust store on a full disk, for real: its directory is a 64 KiB tmpfs in a mount namespace
 * of its own (test/fixtures/trust-store/full-disk.ts runs there, as root). A binding that cannot be
 * written fails with the reason and binds nothing, what was trusted stays trusted, no temp file is
 * left, and once there is room the same binding works.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../harness/daemon.ts';
import { runOnTinyTmpfs, TINY_TMPFS_NEEDS } from '../harness/tiny-tmpfs.ts';
import { useTestPki } from '../harness/test-pki.ts';

const FIXTURE = join(REPO, 'test/fixtures/trust-store/full-disk.ts');

/** What the fixture prints. */
interface FullDiskRun {
  readonly a: string;
  readonly b: string;
  readonly full: { readonly failure: string; readonly vouchesForA: boolean; readonly vouchesForB: boolean; readonly listing: readonly string[] };
  readonly freed: { readonly vouchesForA: boolean; readonly vouchesForB: boolean; readonly listing: readonly string[] };
  readonly rereadNames: readonly string[];
  readonly log: readonly string[];
}

describe('trust store on a full disk', () => {
  const fixture = useTestPki('trust-full-');

  it('a binding that cannot be written (ENOSPC) fails with the reason and binds nothing; the trusted CA, its link and no temp file stay; with room it binds', async (t) => {
    if (process.getuid?.() !== 0) return t.skip(TINY_TMPFS_NEEDS);
    const dir = join(fixture.work(), 'trust');
    const run = await runOnTinyTmpfs({ dir, fixture: FIXTURE, args: [fixture.pki().a.ca.certFile, fixture.pki().b.ca.certFile], timeoutMs: 120_000 });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const seen = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as FullDiskRun;
    const out = JSON.stringify(seen, null, 1);

    assert.match(seen.full.failure, /ENOSPC/, out);
    assert.equal(seen.full.vouchesForB, false, 'the binding that failed binds nothing');
    assert.equal(seen.full.vouchesForA, true, 'what was trusted stays trusted');
    // bmc-a's CA file and its subject-hash link, the filler, and nothing else: no temp file, no torn CA file.
    const link = /^[0-9a-f]{8}\.0 -> [0-9a-f]{64}\.pem$/;
    assert.deepEqual(
      seen.full.listing.filter((f) => !link.test(f)),
      [`${seen.a}.pem`, 'fill.bin'].sort(),
      out,
    );
    assert.equal(seen.full.listing.filter((f) => link.test(f)).length, 1, out);

    assert.equal(seen.freed.vouchesForB, true, 'with room, the same binding works');
    assert.equal(seen.freed.vouchesForA, true);
    assert.deepEqual(
      seen.freed.listing.filter((f) => !link.test(f)),
      [`${seen.a}.pem`, `${seen.b}.pem`].sort(),
      out,
    );
    assert.deepEqual([...seen.rereadNames].sort(), ['bmc-a', 'bmc-b'], 'a store reading the directory afresh agrees');
  });
});
