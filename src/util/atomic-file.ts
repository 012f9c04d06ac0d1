import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** What to write atomically: a reader sees either the old file or the whole new one, never a torn one. */
export interface AtomicWrite {
  readonly path: string;
  readonly data: string | Uint8Array;
  /** File mode, applied exactly (not masked by the umask). */
  readonly mode: number;
  /** Mode of parent directories created on the way; default 0o755. */
  readonly dirMode?: number;
}

/** Creates `dir` and its parents if missing (mode applies to the ones created). */
export async function ensureDir(dir: string, mode = 0o755): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
}

/** Writes temp file + fsync + rename + fsync of the directory; creates parent directories. */
export async function writeFileAtomic(w: AtomicWrite): Promise<void> {
  const dir = dirname(w.path);
  await ensureDir(dir, w.dirMode ?? 0o755);
  const tmp = join(dir, `.${basename(w.path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', w.mode);
  try {
    await fh.chmod(w.mode);
    await fh.writeFile(w.data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, w.path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
}

/** fsyncs a directory so a rename or unlink in it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
