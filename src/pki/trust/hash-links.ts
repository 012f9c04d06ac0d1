import { randomBytes } from 'node:crypto';
import { readdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { unlessTimeout, type FileCall } from './file-call.ts';

/** OpenSSL's `-CApath` link names: subject hash, dot, collision index. */
export const HASH_LINK = /^([0-9a-f]{8})\.(\d+)$/;

/** One CA file that must be reachable through its subject-hash link. */
export interface HashLinkTarget {
  readonly hash: string;
  /** File name inside the directory (the link's target). */
  readonly target: string;
}

/**
 * The `<hash>.<n>` symlinks of a `-CApath` directory, kept in memory so that one CA more or less
 * touches only its own hash bucket. Indexes within a bucket stay dense from 0 (OpenSSL stops at the
 * first missing index); links are replaced by rename so a concurrent verifier never sees a gap.
 */
export class HashLinks {
  readonly #dir: string;
  readonly #io: FileCall;
  /** hash -> link targets by index. */
  #buckets = new Map<string, string[]>();

  constructor(dir: string, io: FileCall) {
    this.#dir = dir;
    this.#io = io;
  }

  /**
   * Makes the links on disk exactly match `targets` (reading what is there; existing assignments
   * are kept when possible). Returns whether anything on disk changed.
   */
  async rebuild(targets: readonly HashLinkTarget[]): Promise<boolean> {
    const existing = new Map<string, string>(); // link name -> target file name
    const io = this.#io;
    for (const d of await io(`reading ${this.#dir}`, () => readdir(this.#dir, { withFileTypes: true }))) {
      if (d.isSymbolicLink() && HASH_LINK.test(d.name)) {
        const link = join(this.#dir, d.name);
        existing.set(d.name, await io(`reading the link ${link}`, () => readlink(link)).catch(unlessTimeout('')));
      }
    }
    const order = new Map<string, number>(); // `${hash}/${target}` -> index it has now
    for (const [link, target] of existing) {
      const m = HASH_LINK.exec(link);
      if (!m) continue;
      const key = `${m[1]}/${target}`;
      order.set(key, Math.min(order.get(key) ?? Number.MAX_SAFE_INTEGER, Number(m[2])));
    }
    const buckets = new Map<string, string[]>();
    for (const t of targets) {
      const bucket = buckets.get(t.hash) ?? [];
      if (!bucket.includes(t.target)) bucket.push(t.target);
      buckets.set(t.hash, bucket);
    }
    const wanted = new Map<string, string>();
    for (const [hash, bucket] of buckets) {
      const rank = (target: string) => order.get(`${hash}/${target}`) ?? Number.MAX_SAFE_INTEGER;
      bucket.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
      for (const [i, target] of bucket.entries()) wanted.set(`${hash}.${i}`, target);
    }
    let touched = false;
    for (const [link, target] of wanted) {
      if (existing.get(link) === target) continue;
      await this.#place(link, target);
      touched = true;
    }
    for (const link of existing.keys()) {
      if (!wanted.has(link)) {
        await this.#unlink(link);
        touched = true;
      }
    }
    this.#buckets = buckets;
    return touched;
  }

  /** Links `target` under `hash` (next free index) unless it is linked already. Returns whether it wrote. */
  async add(t: HashLinkTarget): Promise<boolean> {
    const bucket = this.#buckets.get(t.hash) ?? [];
    if (bucket.includes(t.target)) return false;
    await this.#place(`${t.hash}.${bucket.length}`, t.target);
    bucket.push(t.target);
    this.#buckets.set(t.hash, bucket);
    return true;
  }

  /** Unlinks `target`; the bucket's last link moves into the gap. Returns whether it wrote. */
  async remove(t: HashLinkTarget): Promise<boolean> {
    const bucket = this.#buckets.get(t.hash);
    const i = bucket?.indexOf(t.target) ?? -1;
    if (!bucket || i < 0) return false;
    const last = bucket.length - 1;
    const moved = bucket[last];
    if (i !== last && moved !== undefined) {
      await this.#place(`${t.hash}.${i}`, moved);
      bucket[i] = moved;
    }
    await this.#unlink(`${t.hash}.${last}`);
    bucket.pop();
    if (bucket.length === 0) this.#buckets.delete(t.hash);
    return true;
  }

  async #unlink(link: string): Promise<void> {
    const path = join(this.#dir, link);
    await this.#io(`removing the link ${path}`, () => unlink(path)).catch(ignoreMissing);
  }

  async #place(link: string, target: string): Promise<void> {
    const tmp = join(this.#dir, `.${link}.${randomBytes(4).toString('hex')}.tmp`);
    const path = join(this.#dir, link);
    await this.#io(`linking ${tmp} to ${target}`, () => symlink(target, tmp));
    try {
      await this.#io(`renaming ${tmp} to ${path}`, () => rename(tmp, path));
    } catch (err) {
      // A failed placement leaves no temp link behind (unless the disk hangs: the next rebuild ignores dot-files).
      await this.#io(`removing ${tmp}`, () => unlink(tmp)).catch(() => undefined);
      throw err;
    }
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
