import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import * as z from '../util/zod.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';

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
  /** Set when the file existed but could not be used; the caller logs it. */
  readonly problem?: string;
}

const EMPTY: PersistedState = { version: 2, provisioned: false };

/** The `provisioned` flag and friends under state_dir, written atomically. */
export class StateStore {
  readonly file: string;
  /** The state last asked for: on disk, or being written by #writing. */
  #last: PersistedState | undefined;
  /** The state as loaded or last asked for, whatever became of its write: update() builds on it. */
  #current: PersistedState = EMPTY;
  /** Every write started so far, in order; settles with the last one. */
  #writing: Promise<void> = Promise.resolve();
  /** The write waiting for the one in flight: later saves replace its state and share its outcome. */
  #queued: { state: PersistedState; data: string; done: Promise<void> } | undefined;

  constructor(readonly dir: string) {
    this.file = join(dir, 'state.json');
  }

  load(): LoadedState {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#last = EMPTY;
        return { state: EMPTY };
      }
      return { state: EMPTY, problem: `${this.file}: cannot be read (${(err as Error).message}); treated as not provisioned` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.#quarantine('is not valid JSON (truncated or garbage)');
    }
    const result = anyVersion.safeParse(parsed);
    if (!result.success) return this.#quarantine(`has unexpected content (${result.error.issues[0]?.message ?? 'invalid'})`);
    const state: PersistedState = result.data.version === 2 ? result.data : { version: 2, provisioned: result.data.provisioned };
    // A version-1 file is rewritten as version 2 by the next save.
    this.#last = result.data.version === 2 ? state : undefined;
    this.#current = state;
    return { state };
  }

  /**
   * Persists the state unless it is the one already on disk or being written (temp file, fsync,
   * rename), in order. Saves made while a write is in flight are coalesced: only the last of them
   * is written next (a rack attesting its peers changes the records many times a second, and each
   * write waits for an fsync). The returned promise (and flushed()) settles once this state, or a
   * later one, is on disk; after a failed write the next save() tries again.
   */
  save(state: PersistedState): Promise<void> {
    this.#current = state;
    const data = `${JSON.stringify(state)}\n`;
    if (this.#last && `${JSON.stringify(this.#last)}\n` === data) return this.#queued?.done ?? this.#writing;
    this.#last = state;
    const queued = this.#queued;
    if (queued) {
      queued.state = state;
      queued.data = data;
      return queued.done;
    }
    const next: { state: PersistedState; data: string; done: Promise<void> } = { state, data, done: Promise.resolve() };
    next.done = this.#writing
      .catch(() => undefined)
      .then(() => {
        // From here on, a new save waits for this write rather than changing what it writes.
        if (this.#queued === next) this.#queued = undefined;
        return writeFileAtomic({ path: this.file, data: next.data, mode: 0o600, dirMode: 0o700 });
      })
      .catch((err: unknown) => {
        if (this.#last === next.state) this.#last = undefined;
        throw err;
      });
    this.#queued = next;
    this.#writing = next.done;
    return next.done;
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

  /** Settles when every save so far is on disk; rejects if the last one failed. */
  flushed(): Promise<void> {
    return this.#writing;
  }

  /** Moves a corrupt file aside (nothing is lost: an operator can inspect it) and reads as not provisioned. */
  #quarantine(why: string): LoadedState {
    const aside = `${this.file}.corrupt-${Date.now()}`;
    let kept = '';
    try {
      renameSync(this.file, aside);
      kept = `; kept as ${aside}`;
    } catch {
      kept = '';
    }
    this.#last = undefined;
    return { state: EMPTY, problem: `${this.file} ${why}: treated as not provisioned${kept}` };
  }
}
