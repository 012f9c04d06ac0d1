import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { TimeoutError, withTimeout } from './with-timeout.ts';

/**
 * How long one atomic write (directory, temp file, write, fsync, rename, fsync of the directory)
 * may take unless the caller says otherwise: only a disk that hangs takes that long (docs/operations.md).
 */
export const ATOMIC_WRITE_TIMEOUT_MS = 10_000;

/** What to write atomically: a reader sees either the old file or the whole new one, never a torn one. */
export interface AtomicWrite {
  readonly path: string;
  readonly data: string | Uint8Array;
  /** File mode, applied exactly (not masked by the umask). */
  readonly mode: number;
  /** Mode of parent directories created on the way; default 0o755. */
  readonly dirMode?: number;
  /** Deadline of the whole write; default ATOMIC_WRITE_TIMEOUT_MS. */
  readonly timeoutMs?: number;
}

/** A write under way: `done` settles by its deadline; `settled` once the file system calls have really ended. */
export interface AtomicWriteRun {
  /** Resolves once the file is in place; rejects with the failure, or with a TimeoutError at the deadline. */
  readonly done: Promise<void>;
  /**
   * Resolves (never rejects) once no call of this write is pending any more. After a timeout the
   * calls under way still end some time; the write never renames its file into place after the
   * deadline, but a rename already started then may still land: a writer that must keep its
   * writes in order starts the next one only after this.
   */
  readonly settled: Promise<void>;
}

/** Creates `dir` and its parents if missing (mode applies to the ones created). */
export async function ensureDir(dir: string, mode = 0o755): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
}

/** Writes temp file + fsync + rename + fsync of the directory; creates parent directories; rejects at the deadline. */
export function writeFileAtomic(w: AtomicWrite): Promise<void> {
  return startAtomicWrite(w).done;
}

/** Starts writeFileAtomic's work and says both when it is done (or late) and when it has really ended. */
export function startAtomicWrite(w: AtomicWrite): AtomicWriteRun {
  const ms = w.timeoutMs ?? ATOMIC_WRITE_TIMEOUT_MS;
  let late = false;
  const work = writeSteps(w, () => late);
  const done = withTimeout(work, ms, `writing ${w.path}`).catch((err: unknown) => {
    if (err instanceof TimeoutError) late = true;
    throw err;
  });
  return {
    done,
    settled: work.then(
      () => undefined,
      () => undefined,
    ),
  };
}

/** The steps of an atomic write; once `late()`, the temp file is removed instead of renamed into place. */
async function writeSteps(w: AtomicWrite, late: () => boolean): Promise<void> {
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
  if (late()) {
    // The caller was told this write failed: it must not land after all.
    await unlink(tmp).catch(() => undefined);
    return;
  }
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
