import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { writeFileAtomic } from '../util/atomic-file.ts';

/** What survives a restart; only facts, never key material. */
const persistedState = z.strictObject({
  version: z.literal(1),
  provisioned: z.boolean(),
});

/** The persisted state of this BMC. */
export type PersistedState = z.infer<typeof persistedState>;

/** Outcome of reading the state file: a corrupt file is reported, kept aside, and read as "not provisioned". */
export interface LoadedState {
  readonly state: PersistedState;
  /** Set when the file existed but could not be used; the caller logs it. */
  readonly problem?: string;
}

const EMPTY: PersistedState = { version: 1, provisioned: false };

/** The `provisioned` flag and friends under state_dir, written atomically. */
export class StateStore {
  readonly file: string;
  /** The state last asked for: on disk, or being written by #writing. */
  #last: PersistedState | undefined;
  #writing: Promise<void> = Promise.resolve();

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
    const result = persistedState.safeParse(parsed);
    if (!result.success) return this.#quarantine(`has unexpected content (${result.error.issues[0]?.message ?? 'invalid'})`);
    this.#last = result.data;
    return { state: result.data };
  }

  /**
   * Persists the state unless it is the one already on disk or being written (temp file, fsync,
   * rename), in order. The returned promise (and flushed()) settles once it is on disk; after a
   * failed write the next save() tries again.
   */
  save(state: PersistedState): Promise<void> {
    if (this.#last && this.#last.provisioned === state.provisioned) return this.#writing;
    this.#last = state;
    const data = `${JSON.stringify(state)}\n`;
    this.#writing = this.#writing
      .catch(() => undefined)
      .then(() => writeFileAtomic({ path: this.file, data, mode: 0o600, dirMode: 0o700 }))
      .catch((err: unknown) => {
        if (this.#last === state) this.#last = undefined;
        throw err;
      });
    return this.#writing;
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
