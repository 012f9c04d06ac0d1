import { readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as z from '../util/zod.ts';
import { ATOMIC_WRITE_TIMEOUT_MS, startAtomicWrite } from '../util/atomic-file.ts';
import { CodedError } from '../util/coded-error.ts';
import { withTimeout } from '../util/with-timeout.ts';

/** Version 1 (before re-attestation): the flag alone. Still read; written as version 2. */
const stateV1 = z.strictObject({
  version: z.literal(1),
  provisioned: z.boolean(),
});

/** The last attestation of one peer, as remembered across a restart. */
const peerAttestation = z.strictObject({
  /** Wall-clock time of the last attestation that passed, epoch milliseconds. */
  lastAttestedMs: z.optional(z.int().check(z.minimum(0))),
  /** How the last attestation ended. */
  verdict: z.optional(z.enum(['passed', 'revoked', 'unreachable'])),
});

/** What survives a restart; only facts, never key material. */
const persistedState = z.strictObject({
  version: z.literal(2),
  provisioned: z.boolean(),
  /** Per peer name: its last attestation (docs/attestation.md, "Re-attestation"). */
  peers: z.optional(z.record(z.string().check(z.maxLength(253)), peerAttestation)),
});

/** The persisted state of this BMC. */
export type PersistedState = z.infer<typeof persistedState>;
/** One peer's persisted attestation record. */
export type PersistedPeerAttestation = z.infer<typeof peerAttestation>;

/** Any version this build reads. */
const anyVersion = z.union([persistedState, stateV1]);

/** Outcome of reading the state file: a corrupt file is reported, kept aside, and read as "not provisioned". */
export interface LoadedState {
  readonly state: PersistedState;
  /** Set when the file was corrupt and has been moved aside; the caller logs it. */
  readonly problem?: string;
}

/** Why the state file stops the start: nothing may overwrite what could not be read or kept aside. */
export type StateFileProblem = 'STATE_FILE_UNREADABLE' | 'STATE_FILE_CORRUPT';

/**
 * The state file exists but cannot be read (EACCES, EIO, a directory, ...), or is corrupt and could
 * not be moved aside: it is left as it is, and the daemon does not start (exit 78, docs/operations.md),
 * since an unreadable file is no evidence that this BMC was never provisioned.
 */
export class StateFileError extends CodedError<StateFileProblem> {}

/** What a StateStore needs besides its directory. */
export interface StateStoreOptions {
  /** How long a save (or flushed()) may wait for the disk; default ATOMIC_WRITE_TIMEOUT_MS. */
  readonly writeTimeoutMs?: number;
}

/** A write waiting for the one in flight: later saves replace its state and share its outcome. */
interface QueuedWrite {
  state: PersistedState;
  data: string;
  outcome: Promise<void>;
}

/** What the state file holds, as read: nothing, a state of a version this build reads, or something else. */
type StateFileReading =
  | { readonly kind: 'missing' }
  | { readonly kind: 'valid'; readonly data: z.infer<typeof anyVersion> }
  | { readonly kind: 'corrupt'; readonly why: string };

const EMPTY: PersistedState = { version: 2, provisioned: false };

/** The `provisioned` flag and friends under state_dir, written atomically. */
export class StateStore {
  readonly file: string;
  /** The state last asked for: on disk, or being written by #writing. */
  #last: PersistedState | undefined;
  /** The state as loaded or last asked for, whatever became of its write: update() builds on it. */
  #current: PersistedState = EMPTY;
  /** The outcome of the last write (rejects if it failed or ran out of time): flushed() reports it. */
  #writing: Promise<void> = Promise.resolve();
  /**
   * When the file system calls of the last write have really ended (never rejects): the next write
   * starts only then, so that a write that ran out of time can never land after a later one.
   */
  #settled: Promise<void> = Promise.resolve();
  #queued: QueuedWrite | undefined;
  readonly #writeTimeoutMs: number;

  constructor(
    readonly dir: string,
    opts: StateStoreOptions = {},
  ) {
    this.file = join(dir, 'state.json');
    this.#writeTimeoutMs = opts.writeTimeoutMs ?? ATOMIC_WRITE_TIMEOUT_MS;
  }

  /**
   * Reads the state file and changes nothing: throws a StateFileError when it cannot be read. The
   * daemon calls it before it owns its bus name, so that an unreadable file stops the start before
   * anything is opened; load() (once the name is owned) reads it again, and acts on what it finds.
   */
  check(): void {
    this.#read();
  }

  /**
   * Reads the state file: missing means not provisioned; a corrupt one is moved aside and reads as
   * not provisioned (`problem` says so). Throws a StateFileError, changing nothing, when the file
   * cannot be read or a corrupt one cannot be moved aside. Only the one instance that owns the bus
   * name may call it: moving a file aside is a change on disk.
   */
  load(): LoadedState {
    const reading = this.#read();
    if (reading.kind === 'missing') {
      this.#last = EMPTY;
      return { state: EMPTY };
    }
    if (reading.kind === 'corrupt') return this.#quarantine(reading.why);
    const { data } = reading;
    const state: PersistedState = data.version === 2 ? data : { version: 2, provisioned: data.provisioned };
    // A version-1 file is rewritten as version 2 by the next save.
    this.#last = data.version === 2 ? state : undefined;
    this.#current = state;
    return { state };
  }

  /**
   * Persists the state unless it is the one already on disk or being written (temp file, fsync,
   * rename), in order. Saves made while a write is in flight are coalesced: only the last of them
   * is written next (a rack attesting its peers changes the records many times a second, and each
   * write waits for an fsync). The returned promise (and flushed()) settles once this state, or a
   * later one, is on disk; it rejects if the write failed, or with a TimeoutError when the disk
   * has not taken it within the write timeout (a hung disk). After a failed write the next save()
   * tries again.
   */
  save(state: PersistedState): Promise<void> {
    this.#current = state;
    const data = `${JSON.stringify(state)}\n`;
    if (this.#last && `${JSON.stringify(this.#last)}\n` === data) return this.#bounded(this.#queued?.outcome ?? this.#writing);
    this.#last = state;
    const queued = this.#queued;
    if (queued) {
      queued.state = state;
      queued.data = data;
      return this.#bounded(queued.outcome);
    }
    const next: QueuedWrite = { state, data, outcome: Promise.resolve() };
    const run = this.#settled.then(() => {
      // From here on, a new save waits for this write rather than changing what it writes.
      if (this.#queued === next) this.#queued = undefined;
      return startAtomicWrite({ path: this.file, data: next.data, mode: 0o600, dirMode: 0o700, timeoutMs: this.#writeTimeoutMs });
    });
    this.#settled = run.then(
      (w) => w.settled,
      () => undefined,
    );
    next.outcome = run
      .then((w) => w.done)
      .catch((err: unknown) => {
        if (this.#last === next.state) this.#last = undefined;
        throw err;
      });
    this.#queued = next;
    this.#writing = next.outcome;
    return this.#bounded(next.outcome);
  }

  /**
   * Persists one part of the state (the flag, or the peers' attestation records), keeping the other
   * as last loaded or saved: the writers of each part never undo each other. Empty records are left out.
   */
  update(patch: { readonly provisioned?: boolean; readonly peers?: NonNullable<PersistedState['peers']> }): Promise<void> {
    const peers = patch.peers ?? this.#current.peers;
    return this.save({
      version: 2,
      provisioned: patch.provisioned ?? this.#current.provisioned,
      ...(peers && Object.keys(peers).length ? { peers } : {}),
    });
  }

  /** Settles when every save so far is on disk; rejects if the last one failed or the disk did not take it within the write timeout. */
  flushed(): Promise<void> {
    return this.#bounded(this.#writing);
  }

  /** A write's outcome as a caller waits for it: never longer than the write timeout. */
  #bounded(outcome: Promise<void>): Promise<void> {
    return withTimeout(outcome, this.#writeTimeoutMs, `writing ${this.file}`);
  }

  /** What the file holds, read without changing anything; throws STATE_FILE_UNREADABLE if it cannot be read. */
  #read(): StateFileReading {
    let text: string;
    try {
      // Read on the main thread at start, where no deadline can fire: a FIFO or a device in its
      // place would block the start for good, so only a regular file is read (a directory fails the
      // read at once, with EISDIR).
      const st = statSync(this.file);
      if (!st.isFile() && !st.isDirectory()) throw new Error('not a regular file');
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      throw new StateFileError(
        'STATE_FILE_UNREADABLE',
        `${this.file} cannot be read (${(err as Error).message}): it is left as it is and provisioningd does not start, so that nothing overwrites it; make it readable (or move it away to start unprovisioned), then start again`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { kind: 'corrupt', why: 'is not valid JSON (truncated or garbage)' };
    }
    const result = anyVersion.safeParse(parsed);
    if (!result.success) return { kind: 'corrupt', why: `has unexpected content (${result.error.issues[0]?.message ?? 'invalid'})` };
    return { kind: 'valid', data: result.data };
  }

  /**
   * Moves a corrupt file aside (nothing is lost: an operator can inspect it) and reads as not
   * provisioned; if it cannot be moved, throws, leaving it in place for nothing to overwrite.
   */
  #quarantine(why: string): LoadedState {
    const aside = `${this.file}.corrupt-${Date.now()}`;
    try {
      renameSync(this.file, aside);
    } catch (err) {
      throw new StateFileError(
        'STATE_FILE_CORRUPT',
        `${this.file} ${why}, and it could not be moved aside (${(err as Error).message}): nothing was kept aside, the file is left as it is and provisioningd does not start, so that nothing overwrites it; move it away (or repair it), then start again`,
      );
    }
    this.#last = undefined;
    return { state: EMPTY, problem: `${this.file} ${why}: treated as not provisioned; kept as ${aside}` };
  }
}
