import { lstat, mkdir, readdir, readFile, readlink, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../../log.ts';
import { syncDir, writeFileAtomic } from '../../util/atomic-file.ts';
import { parseCaPem } from './ca-certificate-pem.ts';
import { boundNamesOf, boundPem } from './name-binding.ts';
import { fileCallWithin, TRUST_FILE_TIMEOUT_MS, unlessTimeout } from './file-call.ts';

/** Where an upgrade moves our attested CAs from and to, and where it reports what it did. */
export interface LegacyTrustMigration {
  /** The old location, `<cert_root>etc/ssl/certs/authority/` (bmcweb's trust store on OpenBMC). */
  readonly from: string;
  /** provisioningd's own trust store directory (created 0700 if missing). */
  readonly to: string;
  readonly log?: Logger;
}

/** What one migration pass did (all zero when there was nothing of ours left to move). */
export interface LegacyTrustMigrationResult {
  /** Our attested CA files moved (or, after an interrupted move, finished moving). */
  readonly moved: number;
  /** Our hash links removed from the old directory. */
  readonly linksRemoved: number;
  /** Entries of the old directory that are not ours and were left alone. */
  readonly leftAlone: number;
}

/** How our attested CAs are named: the SHA-256 of the DER, lowercase hex, `.pem`. */
const OUR_FILE = /^([0-9a-f]{64})\.pem$/;
/** OpenSSL's `-CApath` link names: subject hash, dot, collision index. */
const HASH_LINK = /^([0-9a-f]{8})\.(\d+)$/;
const MAX_FILE_BYTES = 1024 * 1024;
/** In the new directory while an interrupted pass may still have to renumber links in the old one. */
const JOURNAL = '.legacy-authority-migration.json';
/** Each file call of the move has the trust store's deadline: on a disk that hangs the move fails (the next start finishes it). */
const io = fileCallWithin(TRUST_FILE_TIMEOUT_MS);

/**
 * Moves the attested peer CAs an older provisioningd wrote into `from` over to `to`. Ours are the
 * files `<sha256>.pem` whose name is the fingerprint of the CA they hold and that carry an
 * `Attested-Name:` binding (only attestation writes those), and the `<hash>.<n>` links pointing to
 * them; everything else (bmcweb's and hand-placed CAs, their links) is left where it is, except
 * that links of a subject hash we took one from are renumbered from 0, so that OpenSSL, which
 * stops at the first missing index, still finds them.
 *
 * Crash-safe and idempotent: each CA is first written to `to` (atomically, fsynced), the hashes
 * whose links will be renumbered are recorded in a journal there, and only then are our links and
 * files removed from `from`; the journal goes last. A pass interrupted anywhere is finished by the
 * next one: no CA is ever in neither directory, no foreign link is left behind a gap. Logs one
 * line when it did anything.
 */
export async function migrateLegacyTrustStore(m: LegacyTrustMigration): Promise<LegacyTrustMigrationResult> {
  const none = { moved: 0, linksRemoved: 0, leftAlone: 0 };
  if (resolve(m.from) === resolve(m.to)) return none;
  const journal = join(m.to, JOURNAL);
  const pending = await readJournal(journal);
  let names: string[];
  try {
    names = (await io(`reading ${m.from}`, () => readdir(m.from))).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    if (pending.length) await removeFile(journal);
    return none;
  }

  const ours = new Map<string, string>(); // file name -> its text
  const links = new Map<string, string>(); // link name -> target
  for (const name of names) {
    const path = join(m.from, name);
    const st = await io(`reading ${path}`, () => lstat(path)).catch(unlessTimeout(undefined));
    if (st?.isSymbolicLink() && HASH_LINK.test(name)) {
      links.set(name, await io(`reading the link ${path}`, () => readlink(path)).catch(unlessTimeout('')));
      continue;
    }
    if (!st?.isFile() || st.size > MAX_FILE_BYTES) continue;
    const stem = OUR_FILE.exec(name)?.[1];
    if (!stem) continue;
    const text = await io(`reading ${path}`, () => readFile(path, 'utf8')).catch(unlessTimeout(''));
    if (isOurAttestedCa(text, stem)) ours.set(name, text);
  }
  // A link is ours if it points to one of our files, or (left by an interrupted pass) to a file
  // named like ours that is gone.
  const ourLinks = [...links.keys()].filter((link) => {
    const target = links.get(link) ?? '';
    return ours.has(target) || (OUR_FILE.test(target) && !names.includes(target));
  });
  if (ours.size === 0 && ourLinks.length === 0 && pending.length === 0) return none;

  await io(`creating ${m.to}`, () => mkdir(m.to, { recursive: true, mode: 0o700 }));
  for (const [name, text] of ours) await copyInto(join(m.to, name), text);
  const hashes = [...new Set([...pending, ...ourLinks.map((link) => link.slice(0, 8))])].sort();
  if (hashes.length) await writeFileAtomic({ path: journal, data: `${JSON.stringify({ hashes })}\n`, mode: 0o600, dirMode: 0o700 });

  for (const link of ourLinks) await removeFile(join(m.from, link));
  for (const name of ours.keys()) await removeFile(join(m.from, name));
  await renumberLinks(m.from, new Set(hashes));
  await io(`syncing ${m.from}`, () => syncDir(m.from));
  if (hashes.length) {
    await removeFile(journal);
    await io(`syncing ${m.to}`, () => syncDir(m.to));
  }

  const result = { moved: ours.size, linksRemoved: ourLinks.length, leftAlone: names.length - ours.size - ourLinks.length };
  m.log?.info(
    `trust store: moved ${result.moved} attested peer CA(s) from ${m.from} (bmcweb's trust store for Redfish clients) to ${m.to}; ` +
      `${result.leftAlone} other file(s) there left alone (a CA placed there by hand is not trusted by provisioningd any more: copy it to ${m.to})`,
    { event: 'TRUST_STORE_MIGRATED' },
  );
  return result;
}

/** The subject hashes an interrupted pass was renumbering in the old directory; none without a journal. */
async function readJournal(path: string): Promise<readonly string[]> {
  let text: string;
  try {
    text = await io(`reading ${path}`, () => readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const hashes = (parsed as { hashes?: unknown } | null)?.hashes;
  return Array.isArray(hashes) ? hashes.filter((h): h is string => typeof h === 'string' && /^[0-9a-f]{8}$/.test(h)) : [];
}

/** Whether a file named `<stem>.pem` holds a CA whose fingerprint is `stem`, bound by attestation. */
function isOurAttestedCa(text: string, stem: string): boolean {
  try {
    // A binding line that names no peer throws: not ours to carry over.
    if (!boundNamesOf(text)) return false;
    return parseCaPem(text).fingerprint === stem;
  } catch {
    return false;
  }
}

/**
 * Writes our CA into the new directory unless it is already there with the same text; when the new
 * store already holds it under other names (bound again after an interrupted pass), the file keeps
 * the union of both bindings, so no attested name is lost.
 */
async function copyInto(path: string, text: string): Promise<void> {
  const present = await io(`reading ${path}`, () => readFile(path, 'utf8')).catch(unlessTimeout(undefined));
  if (present === text) return;
  let data = text;
  if (present !== undefined) {
    // A copy there whose binding cannot be read (the store refuses it) is replaced by ours.
    const names = [...(readableBinding(present) ?? []), ...(boundNamesOf(text) ?? [])];
    data = boundPem(names, parseCaPem(text).pem);
  }
  await writeFileAtomic({ path, data, mode: 0o644, dirMode: 0o700 });
}

/** The names a file binds, or undefined when it binds none or its binding cannot be read. */
function readableBinding(text: string): readonly string[] | undefined {
  try {
    return boundNamesOf(text);
  } catch {
    return undefined;
  }
}

/** Renames the `<hash>.<n>` links of the given hashes to 0, 1, … in their present order. */
async function renumberLinks(dir: string, hashes: ReadonlySet<string>): Promise<void> {
  if (hashes.size === 0) return;
  const byHash = new Map<string, { name: string; index: number }[]>();
  for (const name of await io(`reading ${dir}`, () => readdir(dir))) {
    const [, hash, index] = HASH_LINK.exec(name) ?? [];
    if (!hash || !hashes.has(hash)) continue;
    const bucket = byHash.get(hash) ?? [];
    bucket.push({ name, index: Number(index) });
    byHash.set(hash, bucket);
  }
  for (const [hash, bucket] of byHash) {
    bucket.sort((a, b) => a.index - b.index);
    for (const [i, link] of bucket.entries()) {
      const from = join(dir, link.name);
      const to = join(dir, `${hash}.${i}`);
      if (link.index !== i) await io(`renaming ${from} to ${to}`, () => rename(from, to));
    }
  }
}

/** Unlinks `path` under the deadline; one that is gone already is fine. */
async function removeFile(path: string): Promise<void> {
  await io(`removing ${path}`, () => unlink(path)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
