import { X509Certificate } from 'node:crypto';
import { watch as fsWatch, mkdirSync, type FSWatcher } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isPeerName } from '../../../machines/device-id.ts';
import { quoteForLog } from '../../log-escape.ts';
import type { Logger } from '../../log.ts';
import { startAtomicWrite, syncDir } from '../../util/atomic-file.ts';
import { parseCaPem, type ParsedCa } from './ca-certificate-pem.ts';
import { boundNamesOf, boundPem, type NameScope } from './name-binding.ts';
import { opensslSubjectHash } from './openssl-subject-hash.ts';
import { SerialQueue } from '../../util/serial-queue.ts';
import { RetryTimer } from '../../util/retry-timer.ts';
import { HashLinks, type HashLinkTarget } from './hash-links.ts';
import { TRUST_FILE_TIMEOUT_MS, type FileCall } from './file-call.ts';
import { TrustStoreError } from './trust-store-error.ts';
import { errorMessage } from '../../util/error-message.ts';
import { TimeoutError, withTimeout } from '../../util/with-timeout.ts';

/** A peer CA this BMC trusts: one PEM file in the trust store directory. */
export interface TrustedCa {
  /** SHA-256 of the DER, lowercase hex. */
  readonly fingerprint: string;
  readonly subject: string;
  readonly pem: string;
  /** Absolute path of the PEM file. */
  readonly file: string;
  /**
   * The BMC names this CA was attested for (`Attested-Name:` lines in its file): it may only vouch
   * for these. Undefined for a CA placed by hand, which vouches for any name.
   */
  readonly attestedNames?: readonly string[];
}

/** Where the trust store lives, and where it reports what it did. */
export interface TrustStoreOptions {
  readonly dir: string;
  readonly log?: Logger;
  /** Deadline of each file system call of the store (one atomic write counts as one); default TRUST_FILE_TIMEOUT_MS. */
  readonly fileTimeoutMs?: number;
}

/**
 * What one change of the trusted set concerns, so that only the links it matters to are woken: the
 * peer names whose attested CA came, went or changed scope, and whether a CA that vouches for any
 * name (placed by hand) changed, which concerns every peer.
 */
export interface TrustChange {
  readonly anyName: boolean;
  readonly names: readonly string[];
  /** Names whose attested binding was revoked (revokeName): their established links must close too. */
  readonly revoked?: readonly string[];
}

/** File names the store reads as CA certificates (hash links and dot-files are not). */
const CA_FILE = /^[^.].*\.(pem|crt|cer)$/i;
const MAX_FILE_BYTES = 1024 * 1024;
const WATCH_DEBOUNCE_MS = 200;
/**
 * When the hash links (or the directory's fsync) could not be updated: the first repair runs after
 * this, each further one after twice the last wait, up to LINK_REPAIR_MAX_MS.
 */
const LINK_REPAIR_FIRST_MS = 1000;
const LINK_REPAIR_MAX_MS = 5 * 60_000;
/** The store is provisioningd's own: nobody else reads it, and only root may change what it trusts. */
const DIR_MODE = 0o700;

interface Entry extends TrustedCa {
  /** Every file holding this same certificate (an operator may have copied it under another name). */
  readonly files: readonly string[];
  /** The files that carry no binding (placed by hand). */
  readonly unboundFiles: readonly string[];
}

/** One CA file as last read or written: its text tells our own writes from changes by hand. */
interface FileRecord {
  readonly ca: ParsedCa;
  readonly names: readonly string[] | undefined;
  readonly text: string;
}

/** A binding asked for when an attestation starts and made when it has passed, so that a revocation while it ran overtakes it. */
export interface BindingReservation {
  /** Binds the attested CA to the reserved name, as addAttested does; once. */
  bind(pem: string): Promise<TrustedCa>;
  /** Gives the reservation up (the attestation failed); nothing once bind() was called. */
  release(): void;
}

/** One addAttested call waiting for its turn. */
interface PendingBinding {
  readonly parsed: ParsedCa;
  readonly name: string;
  /** When it was asked for, in the order of the store's calls (#callSeq): a revocation of the name asked for later overtakes it. */
  readonly seq: number;
  readonly resolve: (ca: TrustedCa) => void;
  readonly reject: (err: unknown) => void;
}

/** What one binding will write: its file's text (undefined: already there) and the CAs it supersedes. */
interface BindingPlan {
  readonly binding: PendingBinding;
  readonly fileName: string;
  readonly names: readonly string[];
  readonly superseded: readonly Entry[];
  readonly text?: string;
}

/** One CA's subject-hash link as memory had it before a change whose link work comes later (a revocation). */
interface OwedLink {
  readonly fp: string;
  readonly hash: string;
  /** The file name the link pointed to. */
  readonly was: string;
}

/** A CA's scope as a comparable key: absent, any name, or its sorted bound names. */
type ScopeKey = undefined | '*' | string;

/**
 * The trusted peer CAs: a directory of PEM files plus OpenSSL subject-hash links so that
 * `openssl verify -CApath` and Node's TLS (through caPems()) agree on the same set.
 * The directory is read in full once (first use, reload(), list()); after that each change costs
 * the work of the one CA it concerns: its file, its hash bucket, its listeners. PEMs placed or
 * removed by hand are picked up file by file by watch(); our own writes are recognised by their
 * content and cause no second reload. The file work runs one operation at a time, each file call
 * with a deadline; a revocation takes effect in memory at once, ahead of that queue (revokeName).
 */
export class TrustStore {
  readonly dir: string;
  #log: Logger | undefined;
  #loaded = false;
  /** File name (inside dir) -> what it holds. */
  #files = new Map<string, FileRecord>();
  /** Fingerprint -> the file names holding it. */
  #filesOf = new Map<string, Set<string>>();
  #entries = new Map<string, Entry>();
  #pems: readonly string[] | undefined;
  /** The entries changed since #pems was made: caPems() compares before handing it out again. */
  #pemsStale = false;
  #hashes = new Map<string, string>();
  #links: HashLinks;
  /** Files skipped as unreadable, with the reason last logged (one line per file and reason). */
  #skipped = new Map<string, string>();
  /** Parsed certificates by fingerprint, for the name-binding check on each handshake. */
  #parsed = new Map<string, X509Certificate>();
  #queue = new SerialQueue();
  /** addAttested calls waiting for their turn in the queue. */
  #bindings: PendingBinding[] = [];
  #listeners = new Set<(change: TrustChange) => void>();
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  /** File names the watcher saw change since the last refresh; undefined name means "reread all". */
  #dirty = new Set<string>();
  #dirtyAll = false;
  /** The hash links on disk may not match the trusted set (an update failed): the next update rebuilds them all. */
  #linksBroken = false;
  /** The rebuild of broken hash links, tried again after 1 s, 2 s, 4 s … up to LINK_REPAIR_MAX_MS. */
  #linkRepair = new RetryTimer({ firstMs: LINK_REPAIR_FIRST_MS, maxMs: LINK_REPAIR_MAX_MS });
  /**
   * Names whose revocation is in effect but whose CA files on disk may still bind them (removing or
   * rewriting a file failed): every read of the files leaves these bindings out until the disk agrees.
   */
  #revoking = new Set<string>();
  /** Numbers the calls of addAttested and revokeName in the order they were made. */
  #callSeq = 0;
  /**
   * Name -> #callSeq of its last revokeName, kept only while an addAttested of that name asked for
   * earlier is unsettled (it must not bind the name): the map holds no more names than bindings in flight.
   */
  #revokedAt = new Map<string, number>();
  /** Name -> the #callSeq of each of its addAttested calls not settled yet. */
  #unsettled = new Map<string, Set<number>>();
  readonly #fileTimeoutMs: number;
  /** A file call of the operation running now timed out: its remaining calls fail at once (the disk hangs). */
  #turnTimedOut = false;
  /**
   * CA files with a write that timed out and may still land (its rename may have been under way at
   * the deadline): file name -> how many such writes have not ended yet. No read of the directory
   * takes these files in; once their writes have ended they join #lateToCheck.
   */
  #lateWrites = new Map<string, number>();
  /** CA files whose late writes have ended: each is put back to what memory holds (#checkLateFiles), then read normally again. */
  #lateToCheck = new Set<string>();
  /** #checkLateFiles again after it failed (the disk still hangs), waiting as the link repair does. */
  #lateRetry = new RetryTimer({ firstMs: LINK_REPAIR_FIRST_MS, maxMs: LINK_REPAIR_MAX_MS });
  /** Late files whose put-back failed for a reason other than the deadline: file name -> the reason last logged. */
  #putBackFailures = new Map<string, string>();

  constructor(opts: TrustStoreOptions) {
    this.dir = opts.dir;
    this.#log = opts.log;
    this.#fileTimeoutMs = opts.fileTimeoutMs ?? TRUST_FILE_TIMEOUT_MS;
    this.#links = new HashLinks(opts.dir, this.#io);
  }

  /** Re-reads the directory (creating it, 0700, if missing) and repairs the hash links. */
  reload(): Promise<void> {
    return this.#serial(() => this.#fullSync());
  }

  /** The peer names an attested CA is bound to, as of the last read (sorted, each once). */
  attestedNames(): readonly string[] {
    return [...new Set([...this.#entries.values()].flatMap((e) => e.attestedNames ?? []))].sort();
  }

  /** Fingerprints of the attested CAs bound to `name`, as of the last read. */
  attestedFingerprintsFor(name: string): readonly string[] {
    return [...this.#entries.values()].filter((e) => e.attestedNames?.includes(name)).map((e) => e.fingerprint);
  }

  /**
   * The trusted CA certificates as of the last read, for `tls.createSecureContext({ ca })`. The same
   * array until the set of certificates changes (a change of a CA's name binding alone keeps it), so
   * a TLS context built from it is rebuilt only when the CAs themselves changed.
   */
  caPems(): readonly string[] {
    if (this.#pemsStale) {
      this.#pemsStale = false;
      const now = [...this.#entries.values()].map((e) => e.pem);
      const before = this.#pems;
      if (!before || before.length !== now.length || now.some((pem, i) => pem !== before[i])) this.#pems = Object.freeze(now);
    }
    this.#pems ??= Object.freeze([...this.#entries.values()].map((e) => e.pem));
    return this.#pems;
  }

  /** Re-reads the directory and returns the trusted CAs (sorted by subject, then fingerprint). */
  list(): Promise<readonly TrustedCa[]> {
    return this.#serial(async () => {
      await this.#fullSync();
      return [...this.#entries.values()]
        .sort((a, b) => a.subject.localeCompare(b.subject) || a.fingerprint.localeCompare(b.fingerprint))
        .map(publicView);
    });
  }

  /**
   * Trusts a CA certificate: writes `<fingerprint>.pem` (0644, atomically) and its hash link.
   * Idempotent. Throws TrustStoreError for anything but exactly one CA certificate.
   */
  async add(pem: string): Promise<TrustedCa> {
    const parsed = parseCaPem(pem);
    return await this.#serial(async () => {
      await this.#ensureLoaded();
      const existing = this.#entries.get(parsed.fingerprint);
      if (existing) return publicView(existing);
      const name = `${parsed.fingerprint}.pem`;
      await this.#write(join(this.dir, name), parsed.pem);
      await this.#change([parsed.fingerprint], () => this.#setFile(name, { ca: parsed, names: undefined, text: parsed.pem }));
      return this.#entryOrThrow(parsed.fingerprint);
    });
  }

  /**
   * Trusts a CA for one attested BMC name only: writes `<fingerprint>.pem` with an
   * `Attested-Name:` header (one atomic write: certificate and binding together, or nothing) and its
   * hash link. A CA already bound to other names keeps them and gains this one. Another CA that was
   * bound to this name alone (the peer's previous CA, also written by attestation) is removed: the
   * name now belongs to the CA just attested. Throws TrustStoreError for anything but one CA
   * certificate or a name that is not a host name; nothing is written then.
   * Bindings asked for while the store is busy (a rack attesting its peers at once) are written
   * together when its turn comes: their files in parallel, their links and the directory's fsync
   * once, one change to the listeners naming each peer. Each still costs the work of its own CA.
   * A binding overtaken by a revokeName of its name called after this rejects, binding nothing.
   */
  async addAttested(pem: string, name: string): Promise<TrustedCa> {
    const parsed = parseCaPem(pem);
    return this.#bindReserved(parsed, name, this.#reserve(name));
  }

  /**
   * Asks for a binding of `name` now, to be made later with bind() once the attestation that
   * started now has passed: a revokeName of the name called in between overtakes it (bind rejects,
   * binding nothing), as it overtakes an addAttested called before it. The caller gives it up with
   * release() when the attestation fails (and may always call it, after bind too). Throws
   * TrustStoreError for a name that is not a host name.
   */
  reserveBinding(name: string): BindingReservation {
    const seq = this.#reserve(name);
    let open = true;
    const giveUp = () => {
      if (!open) return;
      open = false;
      this.#bindingSettled(name, seq);
    };
    return {
      bind: async (pem) => {
        if (!open) throw new Error(`trust store: the reservation of a binding to ${name} was already used or released`);
        let parsed: ParsedCa;
        try {
          parsed = parseCaPem(pem);
        } catch (err) {
          giveUp();
          throw err;
        }
        open = false; // #bindReserved settles it
        return this.#bindReserved(parsed, name, seq);
      },
      release: giveUp,
    };
  }

  /** Numbers a binding of `name` asked for now, unsettled until #bindingSettled. */
  #reserve(name: string): number {
    // The one grammar of peer names (ProvisionPeer's, LLDP's): every name bound here reads back.
    if (!isPeerName(name)) {
      throw new TrustStoreError('BAD_NAME', `cannot bind a CA to ${quoteForLog(name)}: not a host name`);
    }
    const seq = ++this.#callSeq;
    const seqs = this.#unsettled.get(name) ?? new Set<number>();
    seqs.add(seq);
    this.#unsettled.set(name, seqs);
    return seq;
  }

  /** Queues the binding asked for as call number `seq`, and settles it whatever happens. */
  async #bindReserved(parsed: ParsedCa, name: string, seq: number): Promise<TrustedCa> {
    try {
      return await new Promise<TrustedCa>((resolve, reject) => {
        this.#bindings.push({ parsed, name, seq, resolve, reject });
        if (this.#bindings.length === 1) this.#scheduleBindings();
      });
    } finally {
      this.#bindingSettled(name, seq);
    }
  }

  /** Forgets a settled binding, and the revocation order of its name once no binding asked for before it is left. */
  #bindingSettled(name: string, seq: number): void {
    const seqs = this.#unsettled.get(name);
    seqs?.delete(seq);
    if (seqs?.size === 0) this.#unsettled.delete(name);
    const revokedAt = this.#revokedAt.get(name);
    if (revokedAt !== undefined && !this.#hasBindingBefore(name, revokedAt)) this.#revokedAt.delete(name);
  }

  /** Whether an addAttested of `name` asked for before call number `seq` is still unsettled. */
  #hasBindingBefore(name: string, seq: number): boolean {
    for (const s of this.#unsettled.get(name) ?? []) if (s < seq) return true;
    return false;
  }

  #scheduleBindings(): void {
    // #bindPending settles every binding it took, whatever fails; nothing is left to reject here.
    this.#serial(() => this.#bindPending()).catch((err: unknown) => this.#log?.warn(`trust store: writing attested CAs failed: ${String(err)}`));
  }

  /**
   * Writes the bindings waiting now. Those that touch a CA or a name another one of them touches
   * (the same CA, the same name, a CA one of them supersedes) wait for the next turn, in order.
   */
  async #bindPending(): Promise<void> {
    const waiting = this.#bindings.splice(0);
    try {
      await this.#ensureLoaded();
      const ready: PendingBinding[] = [];
      for (const b of waiting) {
        if (this.#rejectIfOvertaken(b)) continue;
        // A name revoked whose files still bind it (the revocation's file work is queued, or failed) is
        // bound again only once the disk agrees: otherwise the old binding would come back with the new one.
        if (this.#revoking.has(b.name)) {
          try {
            await this.#revokeOnDisk(b.name);
          } catch (err) {
            b.reject(err);
            continue;
          }
        }
        ready.push(b);
      }
      await this.#bindPlanned(ready);
    } catch (err) {
      // Those settled already ignore this; those put back for the next turn are not concerned.
      for (const b of waiting) if (!this.#bindings.includes(b)) b.reject(err);
    }
  }

  async #bindPlanned(waiting: readonly PendingBinding[]): Promise<void> {
    const plans: BindingPlan[] = [];
    const later: PendingBinding[] = [];
    const touched = new Set<string>();
    for (const b of waiting) {
      if (this.#rejectIfOvertaken(b)) continue; // revoked while #bindPending waited for the disk
      const plan = this.#planBinding(b);
      const keys = [`name:${b.name}`, `ca:${b.parsed.fingerprint}`, ...plan.superseded.map((e) => `ca:${e.fingerprint}`)];
      if (later.length > 0 || keys.some((k) => touched.has(k))) {
        later.push(b);
        continue;
      }
      for (const k of keys) touched.add(k);
      plans.push(plan);
    }
    if (later.length > 0) {
      this.#bindings.unshift(...later);
      if (this.#bindings.length === later.length) this.#scheduleBindings();
    }
    const unchanged = plans.filter((p) => p.text === undefined);
    for (const p of unchanged) this.#settle(p);
    const changed = plans.filter((p) => p.text !== undefined);
    if (changed.length === 0) return;
    const written = await Promise.allSettled(
      changed.map(async (p) => {
        await this.#write(join(this.dir, p.fileName), p.text ?? '');
        for (const e of p.superseded) for (const f of e.files) await this.#io(`removing ${f}`, () => unlink(f)).catch(ignoreMissing);
      }),
    );
    const done: BindingPlan[] = [];
    changed.forEach((p, i) => {
      const w = written[i];
      if (w?.status === 'rejected') p.binding.reject(w.reason);
      else done.push(p);
    });
    if (done.length === 0) return;
    // A binding whose name was revoked while its file was being written is recorded as the disk has
    // it (the revocation's own file work, queued after this, removes it) but not in effect: #inEffect
    // leaves out a name being revoked. It is refused below.
    await this.#change(
      done.flatMap((p) => [p.binding.parsed.fingerprint, ...p.superseded.map((e) => e.fingerprint)]),
      () => {
        for (const p of done) {
          this.#setFile(p.fileName, { ca: p.binding.parsed, names: p.names, text: p.text ?? '' });
          for (const e of p.superseded) for (const f of e.files) this.#setFile(basename(f), undefined);
        }
      },
    );
    for (const p of done) {
      for (const e of p.superseded) {
        this.#log?.info(`trust store: CA ${e.fingerprint} was bound to ${p.binding.name} only; replaced by ${p.binding.parsed.fingerprint}`, {
          peer: p.binding.name,
          event: 'CA_SUPERSEDED',
        });
      }
      if (!this.#rejectIfOvertaken(p.binding)) this.#settle(p);
    }
  }

  /**
   * Refuses a binding asked for before the last revocation of its name (true then): the attestation
   * it comes from is older than the verdict that revoked the name, so it must not bind it again.
   */
  #rejectIfOvertaken(b: PendingBinding): boolean {
    const revokedAt = this.#revokedAt.get(b.name);
    if (revokedAt === undefined || revokedAt < b.seq) return false;
    b.reject(
      new Error(
        `not binding CA ${b.parsed.fingerprint} to ${b.name}: the trust of ${b.name} was revoked after this binding was asked for; only an attestation asked for after the revocation binds it again`,
      ),
    );
    return true;
  }

  /** What one binding writes against the store as it is now; `text` undefined when it is there already. */
  #planBinding(binding: PendingBinding): BindingPlan {
    const { parsed, name } = binding;
    const fileName = `${parsed.fingerprint}.pem`;
    const existing = this.#entries.get(parsed.fingerprint);
    const names = [...new Set([...(existing?.attestedNames ?? []), name])].sort();
    const superseded = [...this.#entries.values()].filter(
      (e) => e.fingerprint !== parsed.fingerprint && e.unboundFiles.length === 0 && e.attestedNames?.length === 1 && e.attestedNames[0] === name,
    );
    const text = boundPem(names, parsed.pem);
    const current = this.#files.get(fileName);
    const unchanged = current?.text === text && superseded.length === 0;
    return { binding, fileName, names, superseded, ...(unchanged ? {} : { text }) };
  }

  #settle(plan: BindingPlan): void {
    try {
      plan.binding.resolve(this.#entryOrThrow(plan.binding.parsed.fingerprint));
    } catch (err) {
      plan.binding.reject(err);
    }
  }

  /**
   * Which names the trusted CA that issued `leaf` may vouch for, as of the last read. A CA placed by
   * hand vouches for any name; an attested CA only for its attested names. When several trusted
   * CAs could have issued the leaf (same subject and key, e.g. a re-issued CA certificate), the
   * widest scope wins. Undefined when no trusted CA issued it (TLS verification refuses it anyway).
   */
  nameScopeFor(leaf: X509Certificate): NameScope | undefined {
    const names = new Set<string>();
    let issued = false;
    for (const e of this.#entries.values()) {
      const ca = this.#x509(e);
      if (ca.subject !== leaf.issuer) continue;
      let signed = false;
      try {
        signed = leaf.verify(ca.publicKey);
      } catch {
        signed = false;
      }
      if (!signed) continue;
      issued = true;
      if (!e.attestedNames) return { kind: 'any' };
      for (const n of e.attestedNames) names.add(n);
    }
    return issued ? { kind: 'bound', names: [...names].sort() } : undefined;
  }

  /** Whether a CA placed by hand (one that may vouch for any name) is trusted. */
  vouchesForAnyName(): boolean {
    for (const e of this.#entries.values()) if (!e.attestedNames) return true;
    return false;
  }

  /**
   * Whether some trusted CA may vouch for `name` (one placed by hand, or one attested for it). When
   * none does, a refused handshake with that peer is the normal state before its attestation.
   */
  vouchesFor(name: string): boolean {
    for (const e of this.#entries.values()) if (!e.attestedNames || e.attestedNames.includes(name)) return true;
    return false;
  }

  /**
   * Why a peer certificate for `name` must be refused under the name bindings, or undefined when
   * its issuing CA may vouch for that name. `leafDer` is the peer's leaf certificate (DER).
   */
  nameBindingRefusal(leafDer: Uint8Array, name: string): string | undefined {
    // Called on every handshake after TLS verified the chain: with no attested (bound) CA in the
    // store every trusted CA may vouch for any name, so there is nothing to parse or verify again.
    if (![...this.#entries.values()].some((e) => e.attestedNames)) return undefined;
    return this.#scopeRefusal(leafDer, name, {
      unissued: `no trusted CA issued the certificate for ${name}`,
      unbound: (names) => `the certificate names ${name}, but its CA was attested for ${names.join(', ')} only`,
    });
  }

  /** Why the CAs trusted now may not vouch for `leafDer` as `name` (the texts say it), or undefined when one may. */
  #scopeRefusal(leafDer: Uint8Array, name: string, why: { unissued: string; unbound: (names: readonly string[]) => string }): string | undefined {
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(leafDer);
    } catch (err) {
      return `cannot parse the peer certificate: ${errorMessage(err)}`;
    }
    const scope = this.nameScopeFor(leaf);
    if (!scope) return why.unissued;
    if (scope.kind === 'any' || scope.names.includes(name)) return undefined;
    return why.unbound(scope.names);
  }

  /**
   * Revokes what attestation placed for one peer name: every attested CA bound to `name` loses that
   * binding, in one atomic write per CA file. A CA bound to that name only is removed (file and hash
   * link); one bound to other names too keeps those. A CA placed by hand is not touched. Resolves
   * with the fingerprints that lost the binding (none when the name had no attested CA) once the
   * files are changed.
   *
   * The revocation takes effect in memory at the call, whatever the store's queue holds (a rescan, a
   * binding, a disk that hangs): before this returns its promise the name is refused, the listeners
   * are told (`revoked`: the peer's links close) and its CA leaves caPems(). Only the file work (the
   * CA files, their hash links) waits for its turn in the queue. Until the files agree, a reload or
   * the watch reading the old file does not bring the binding back. When removing or rewriting a
   * file fails (or times out), the name stays refused, the failure is logged
   * (CA_REVOKE_FILE_FAILED) and this rejects; calling it again redoes the file work.
   *
   * Against addAttested the order of the calls decides: a binding of `name` asked for before this
   * call (waiting in the queue, or being written right now) is overtaken and rejects without binding
   * it, even when its turn comes after the revocation; only one asked for after this call (a new,
   * passing attestation) binds the name again, and it first removes the old binding from the disk.
   */
  revokeName(name: string): Promise<readonly string[]> {
    const seq = ++this.#callSeq;
    // Only a binding asked for before this call is overtaken by it: with none in flight there is nothing to order.
    if (this.#hasBindingBefore(name, seq)) this.#revokedAt.set(name, seq);
    const { fps, owed } = this.#revokeInMemory(name);
    return this.#serial(async () => {
      await this.#ensureLoaded();
      // The links of the CAs memory stopped trusting follow now, whatever happened to them since.
      if (owed.length > 0) await this.#keepLinks(() => this.#payOwedLinks(owed));
      // A binding asked for after this revocation may have had its turn first (bindings asked for
      // while the store is busy share one turn): it removed the old binding from the disk already.
      if (!this.#revoking.has(name)) return fps;
      const onDisk = this.#filesBinding(name).map(([, r]) => r.ca.fingerprint);
      await this.#revokeOnDisk(name);
      return [...new Set([...fps, ...onDisk])];
    });
  }

  /**
   * The in-memory half of revokeName, at once: the name joins #revoking (every read of the files
   * leaves its bindings out), the CAs binding it are derived again, the change is logged and told.
   * Returns the CAs whose files bind the name as far as memory knows, and the hash links owed.
   */
  #revokeInMemory(name: string): { fps: readonly string[]; owed: readonly OwedLink[] } {
    const fps = [...new Set(this.#filesBinding(name).map(([, r]) => r.ca.fingerprint))];
    const already = this.#revoking.has(name);
    // Even with nothing bound (or the directory not read yet): a file read later must not bind it.
    this.#revoking.add(name);
    if (already || fps.length === 0) return { fps, owed: [] };
    const bound = fps.filter((fp) => this.#entries.get(fp)?.attestedNames?.includes(name));
    const before = this.#scopes(fps);
    const previous = this.#entriesOf(fps);
    const owed: OwedLink[] = [];
    for (const fp of fps) {
      const was = previous.get(fp);
      this.#recompute(fp);
      const now = this.#entries.get(fp);
      const hash = this.#hashOf(was ?? now);
      if (was && hash && (!now || now.file !== was.file)) owed.push({ fp, hash, was: basename(was.file) });
    }
    for (const fp of bound) this.#log?.warn(`trust store: revoked the binding of CA ${fp} to ${name}`, { peer: name, event: 'CA_REVOKED' });
    this.#report({ fps: new Set(fps), before, previous, revoked: [name] });
    return { fps, owed };
  }

  /**
   * Brings the links of CAs a revocation changed in memory in line with memory as it is now (another
   * change may have come between): the old link goes unless its CA is still reported under that
   * file, the current one is made if missing. Returns whether anything on disk changed.
   */
  async #payOwedLinks(owed: readonly OwedLink[]): Promise<boolean> {
    let touched = false;
    for (const o of owed) {
      const now = this.#entries.get(o.fp);
      const target = now ? basename(now.file) : undefined;
      if (target !== o.was) touched = (await this.#links.remove({ hash: o.hash, target: o.was })) || touched;
      if (target !== undefined) touched = (await this.#links.add({ hash: o.hash, target })) || touched;
    }
    return touched;
  }

  /** The CA files (name, record as on disk) that bind `name`. */
  #filesBinding(name: string): Array<readonly [string, FileRecord]> {
    return [...this.#files].filter(([, r]) => r.names?.includes(name));
  }

  /**
   * Removes `name` from the CA files that still bind it (a file bound to it alone is deleted), then
   * forgets the pending revocation. Throws (after logging CA_REVOKE_FILE_FAILED) when a file could
   * not be changed; the files changed are recorded either way.
   */
  async #revokeOnDisk(name: string): Promise<void> {
    const done: Array<{ file: string; record: FileRecord | undefined }> = [];
    let failure: { file: string; err: unknown } | undefined;
    for (const [file, record] of this.#filesBinding(name)) {
      const path = join(this.dir, file);
      const rest = (record.names ?? []).filter((n) => n !== name);
      try {
        if (rest.length === 0) {
          await this.#io(`removing ${path}`, () => unlink(path)).catch(ignoreMissing);
          done.push({ file, record: undefined });
        } else {
          const text = boundPem(rest, record.ca.pem);
          await this.#write(path, text);
          done.push({ file, record: { ca: record.ca, names: rest, text } });
        }
      } catch (err) {
        failure ??= { file: path, err };
        if (err instanceof TimeoutError) break; // the disk hangs: the other files would wait as long
      }
    }
    // Memory left these bindings out already (#inEffect): the files now say what it says, so the
    // trusted set, its links and listeners stay as they are.
    const fps = new Set(done.flatMap((d) => this.#files.get(d.file)?.ca.fingerprint ?? []));
    for (const d of done) this.#setFile(d.file, d.record);
    if (!failure) this.#revoking.delete(name);
    for (const fp of fps) this.#recompute(fp);
    if (!failure) return;
    const reason = errorMessage(failure.err);
    this.#log?.error(
      `trust store: cannot remove the binding to ${name} from ${failure.file}: ${reason}; the revocation is in effect for the daemon (${name} is refused), the file is changed when the revocation is tried again`,
      { peer: name, event: 'CA_REVOKE_FILE_FAILED', reason },
    );
    throw failure.err;
  }

  /**
   * Why an established link whose peer certificate (`leafDer`, for `name`) was accepted earlier must
   * now close, or undefined while some trusted CA still issued it and may vouch for that name. Unlike
   * nameBindingRefusal (run after TLS verified the chain) it also checks that a trusted CA issued it:
   * its CA, or its binding to the name, may be gone since the handshake.
   */
  establishedLinkRefusal(leafDer: Uint8Array, name: string): string | undefined {
    return this.#scopeRefusal(leafDer, name, {
      unissued: `no trusted CA issued the certificate of ${name} any more`,
      unbound: () => `the CA of ${name}'s certificate is no longer trusted for ${name}`,
    });
  }

  /** Stops trusting a CA: removes every file holding it and its hash link. False if it was not there. */
  async remove(fingerprint: string): Promise<boolean> {
    const fp = normaliseFingerprint(fingerprint);
    return await this.#serial(async () => {
      await this.#ensureLoaded();
      const entry = this.#entries.get(fp);
      if (!entry) return false;
      for (const f of entry.files) await this.#io(`removing ${f}`, () => unlink(f)).catch(ignoreMissing);
      await this.#change([fp], () => {
        for (const f of entry.files) this.#setFile(basename(f), undefined);
      });
      return true;
    });
  }

  /**
   * Calls `listener` after any operation that changed the trusted set, with what the change
   * concerns; returns an unsubscribe.
   */
  onChange(listener: (change: TrustChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Watches the directory so PEMs placed or deleted by hand are picked up: each changed file is
   * re-read on its own (debounced); a file whose content is what the store wrote changes nothing.
   */
  watch(): void {
    if (this.#watcher) return;
    mkdirSync(this.dir, { recursive: true, mode: DIR_MODE });
    this.#watcher = fsWatch(this.dir, (_event, file) => {
      if (file === null) this.#dirtyAll = true;
      else if (CA_FILE.test(file)) this.#dirty.add(file);
      else return; // our temp files (dot-files) and hash links
      if (this.#debounce) return;
      this.#debounce = setTimeout(() => {
        this.#debounce = undefined;
        const all = this.#dirtyAll;
        const files = [...this.#dirty];
        this.#dirtyAll = false;
        this.#dirty.clear();
        this.#serial(async () => {
          if (all) await this.#fullSync();
          else for (const f of files) await this.#refreshFile(f);
        }).catch((err: unknown) => {
          // The change is not lost (a file that could not be read in time): the next operation reads the whole directory.
          this.#loaded = false;
          this.#log?.warn(`trust store: reload after a change in ${this.dir} failed: ${String(err)}`);
        });
      }, WATCH_DEBOUNCE_MS);
    });
    this.#watcher.on('error', (err) => this.#log?.warn(`trust store: watching ${this.dir} failed: ${err.message}`));
  }

  /** Stops watching (and repairing the hash links). */
  close(): void {
    this.#linkRepair.stop();
    this.#lateRetry.stop();
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = undefined;
    this.#dirty.clear();
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #x509(e: Entry): X509Certificate {
    const cached = this.#parsed.get(e.fingerprint);
    if (cached) return cached;
    const cert = new X509Certificate(e.pem);
    this.#parsed.set(e.fingerprint, cert);
    return cert;
  }

  /**
   * Runs `op` in the store's turn, after the operations asked for before it. Each of its file calls
   * has a deadline (#io), so an operation never holds the queue for ever: one that hangs fails, and
   * the next one runs.
   */
  #serial<T>(op: () => Promise<T>): Promise<T> {
    return this.#queue.run(() => {
      this.#turnTimedOut = false;
      return op();
    });
  }

  /**
   * One file system call of the operation running now, with the store's deadline. A call that times
   * out is logged (TRUST_FILE_TIMEOUT) and fails with a TimeoutError; the operation's further calls
   * fail at once (the disk hangs), the next operation tries again. Memory keeps what it had: a change
   * that times out was not made (an atomic write that lands after all is put back, #write; an
   * unlink or link that does is seen by the watch, and the links are rebuilt by #keepLinks' repair).
   */
  readonly #io: FileCall = async (what, call) => {
    if (this.#turnTimedOut) throw new TimeoutError(`${what}: not tried, an earlier file call of this trust store operation timed out`);
    try {
      return await withTimeout(call(), this.#fileTimeoutMs, what);
    } catch (err) {
      if (err instanceof TimeoutError) this.#timedOut(err);
      throw err;
    }
  };

  /**
   * Writes one CA file atomically (0644) under the store's deadline. A write that times out is not
   * renamed into place afterwards, but its rename may have been under way at the deadline: until
   * it has ended, and the file has been put back to what memory holds, no read takes the file in.
   */
  #write(path: string, text: string): Promise<void> {
    // The atomic write's own deadline, the same, fires first (its timer starts first).
    return this.#io(`writing ${path}`, async () => {
      const run = startAtomicWrite({ path, data: text, mode: 0o644, timeoutMs: this.#fileTimeoutMs });
      try {
        await run.done;
      } catch (err) {
        if (err instanceof TimeoutError) this.#lateWrite(basename(path), run.settled);
        throw err;
      }
    });
  }

  /** Whether reads of the directory must leave `name` as memory has it: a late write of it may land, or has landed unchecked. */
  #isLate(name: string): boolean {
    return this.#lateWrites.has(name) || this.#lateToCheck.has(name);
  }

  /** Holds `name` out of reads until the write that timed out has ended (`settled`), then checks the file. */
  #lateWrite(name: string, settled: Promise<void>): void {
    this.#lateWrites.set(name, (this.#lateWrites.get(name) ?? 0) + 1);
    void settled.then(() => {
      const left = (this.#lateWrites.get(name) ?? 1) - 1;
      if (left > 0) return void this.#lateWrites.set(name, left);
      this.#lateWrites.delete(name);
      this.#lateToCheck.add(name);
      // A retry already waiting checks this file too.
      if (!this.#lateRetry.pending) this.#runLateCheck();
    });
  }

  /** Runs #checkLateFiles in the store's turn; while the disk still hangs (logged as TRUST_FILE_TIMEOUT), again later, less often each time. */
  #runLateCheck(): void {
    this.#serial(() => this.#checkLateFiles()).then(
      () => this.#lateRetry.succeeded(),
      () => this.#lateRetry.failed(() => this.#runLateCheck()),
    );
  }

  /**
   * Puts each file whose late writes have ended back to what memory holds: a write the store was
   * told had failed must not take effect when it lands after all (a binding overtaken by a
   * revocation would bind the revoked name again). Memory's own record is rewritten, a file memory
   * has none of is removed, a file that holds what memory holds is left as it is.
   */
  async #checkLateFiles(): Promise<void> {
    for (const name of [...this.#lateToCheck]) {
      if (this.#lateWrites.has(name)) continue; // another write of it timed out meanwhile: checked once that one has ended
      const path = join(this.dir, name);
      const known = this.#files.get(name);
      const text = await this.#io(`reading ${path}`, () => readFile(path, 'utf8')).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      });
      if (text !== known?.text) {
        // Said before the put-back: on a disk that still hangs, that write may time out as well (and is tried again).
        if (!this.#putBackFailures.has(name)) {
          this.#log?.warn(`trust store: a write of ${path} that had timed out landed afterwards; the file is put back to what the store holds`, {
            event: 'CA_FILE_LATE_WRITE_UNDONE',
          });
        }
        await this.#putBack(name, known);
      }
      // Put back by this try, or meanwhile by other means (the file already holds what memory holds).
      if (this.#putBackFailures.delete(name)) this.#log?.info(`trust store: ${path} is put back to what the store holds`, { event: 'CA_FILE_PUT_BACK' });
      this.#lateToCheck.delete(name);
    }
  }

  /**
   * Rewrites (or removes) one late file to what memory holds. A failure other than the deadline
   * (logged as TRUST_FILE_TIMEOUT already), such as a full or read-only disk, is said once per
   * reason (#checkLateFiles says when the file holds what memory holds again).
   */
  async #putBack(name: string, known: FileRecord | undefined): Promise<void> {
    const path = join(this.dir, name);
    try {
      if (known) await this.#write(path, known.text);
      else await this.#io(`removing ${path}`, () => unlink(path)).catch(ignoreMissing);
    } catch (err) {
      if (err instanceof TimeoutError) throw err;
      const reason = errorMessage(err);
      if (this.#putBackFailures.get(name) !== reason) {
        this.#log?.error(
          `trust store: cannot put ${path} back to what the store holds (${known ? 'rewrite' : 'remove'} it): ${reason}; the store does not read that file in, but a daemon started now would (tried again after a wait that doubles up to ${LINK_REPAIR_MAX_MS / 60_000} min)`,
          { event: 'CA_FILE_PUT_BACK_FAILED', reason },
        );
      }
      this.#putBackFailures.set(name, reason);
      throw err;
    }
  }

  #timedOut(err: TimeoutError): void {
    if (this.#turnTimedOut) return;
    this.#turnTimedOut = true;
    this.#log?.error(
      `trust store: ${err.message} (does the disk hang?): that operation fails, the store goes on with the next one; the trusted set in memory stays in effect`,
      { event: 'TRUST_FILE_TIMEOUT', reason: err.message },
    );
  }

  #entryOrThrow(fp: string): TrustedCa {
    const entry = this.#entries.get(fp);
    if (!entry) throw new Error(`trust store: CA ${fp} vanished while being added`);
    return publicView(entry);
  }

  async #ensureLoaded(): Promise<void> {
    if (!this.#loaded) await this.#fullSync();
  }

  /** Reads every file of the directory, rebuilds the hash links, notifies what changed. */
  async #fullSync(): Promise<void> {
    const created = await this.#io(`creating ${this.dir}`, () => mkdir(this.dir, { recursive: true, mode: DIR_MODE }));
    if (created !== undefined) await this.#io(`setting the mode of ${this.dir}`, () => chmod(this.dir, DIR_MODE));
    const names = (await this.#io(`reading ${this.dir}`, () => readdir(this.dir, { withFileTypes: true })))
      .filter((d) => d.isFile() && CA_FILE.test(d.name))
      .map((d) => d.name)
      .sort();
    const records = new Map<string, FileRecord>();
    for (const name of names) {
      if (this.#isLate(name)) continue;
      const record = await this.#readFile(name);
      if (record) records.set(name, record);
    }
    // A file a late write may still change (or has, unchecked) stays as memory has it.
    for (const name of [...this.#lateWrites.keys(), ...this.#lateToCheck]) {
      const known = this.#files.get(name);
      if (known) records.set(name, known);
    }
    for (const name of this.#skipped.keys()) if (!names.includes(name)) this.#skipped.delete(name);
    const before = this.#scopes(this.#entries.keys());
    const fps = new Set([...this.#entries.keys(), ...[...records.values()].map((r) => r.ca.fingerprint)]);
    this.#files = records;
    this.#filesOf = new Map();
    for (const [name, r] of records) {
      const set = this.#filesOf.get(r.ca.fingerprint) ?? new Set<string>();
      set.add(name);
      this.#filesOf.set(r.ca.fingerprint, set);
    }
    const previous = new Map(this.#entries);
    for (const fp of fps) this.#recompute(fp);
    this.#loaded = true;
    await this.#keepLinks(() => this.#links.rebuild(this.#linkTargets()));
    this.#report({ fps, before, previous });
  }

  /** The hash link every trusted CA needs. */
  #linkTargets(): HashLinkTarget[] {
    const targets: HashLinkTarget[] = [];
    for (const e of this.#entries.values()) {
      const hash = this.#hashOf(e);
      if (hash) targets.push({ hash, target: basename(e.file) });
    }
    return targets;
  }

  /**
   * Brings the hash links in line with a change already in memory and in the CA files (`update`
   * says whether it wrote), then fsyncs the directory. Never throws: a failure (ENOSPC, EACCES,
   * something else in the way of a link) is logged (TRUST_LINKS_FAILED) and repaired later by a full
   * rebuild, so the listeners still hear of the change and nothing it did is lost. While the links
   * are broken, every update is such a rebuild.
   */
  async #keepLinks(update: () => Promise<boolean>): Promise<void> {
    const repairing = this.#linksBroken;
    try {
      const touched = repairing ? await this.#links.rebuild(this.#linkTargets()) : await update();
      if (touched) await this.#io(`syncing ${this.dir}`, () => syncDir(this.dir));
    } catch (err) {
      this.#linksBroken = true;
      const reason = errorMessage(err);
      this.#log?.error(
        `trust store: cannot update the hash links in ${this.dir}: ${reason}; the trusted set is in effect for the daemon, openssl -CApath may see an older one until they are repaired (tried again with the next change, and after a wait that doubles up to ${LINK_REPAIR_MAX_MS / 60_000} min)`,
        { event: 'TRUST_LINKS_FAILED', reason },
      );
      this.#scheduleLinkRepair();
      return;
    }
    if (!repairing) return;
    this.#linksBroken = false;
    this.#linkRepair.succeeded();
    this.#log?.info(`trust store: hash links in ${this.dir} repaired`, { event: 'TRUST_LINKS_REPAIRED' });
  }

  /** Tries the rebuild again later, waiting twice as long each time (a change in between tries sooner). */
  #scheduleLinkRepair(): void {
    this.#linkRepair.failed(() => {
      if (!this.#linksBroken) return;
      this.#serial(() => this.#keepLinks(async () => false)).catch((err: unknown) => this.#log?.warn(`trust store: repairing the hash links failed: ${String(err)}`));
    });
  }

  /** Re-reads one file the watcher saw change; nothing happens when it holds what the store knows. */
  async #refreshFile(name: string): Promise<void> {
    if (!this.#loaded) return await this.#fullSync();
    if (this.#isLate(name)) return; // #checkLateFiles puts it back to what memory holds
    const known = this.#files.get(name);
    const record = await this.#readFile(name, known?.text);
    if (record === known) return;
    if (!record && !known) return;
    const fps = [known?.ca.fingerprint, record?.ca.fingerprint].filter((fp): fp is string => fp !== undefined);
    await this.#change(fps, () => this.#setFile(name, record));
  }

  /**
   * Reads one CA file; undefined if it is gone or unusable (logged once per file and reason).
   * Returns `known`'s record itself when the file still holds `knownText`.
   */
  async #readFile(name: string, knownText?: string): Promise<FileRecord | undefined> {
    const file = join(this.dir, name);
    try {
      const st = await this.#io(`reading ${file}`, () => lstat(file));
      if (!st.isFile()) return undefined;
      if (st.size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
      const text = await this.#io(`reading ${file}`, () => readFile(file, 'utf8'));
      if (knownText !== undefined && text === knownText) return this.#files.get(name);
      const record = { ca: parseCaPem(text), names: boundNamesOf(text), text };
      this.#skipped.delete(name);
      return record;
    } catch (err) {
      // A file that cannot be read in time is not a bad file: the whole read fails, the CAs stay as they were.
      if (err instanceof TimeoutError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#skipped.delete(name);
        return undefined;
      }
      const reason = errorMessage(err);
      if (this.#skipped.get(name) !== reason) this.#log?.warn(`trust store: ignoring ${file}: ${reason}`, { event: 'CA_FILE_SKIPPED' });
      this.#skipped.set(name, reason);
      return undefined;
    }
  }

  /** Sets (or with undefined forgets) what one file holds, keeping the fingerprint index in step. */
  #setFile(name: string, record: FileRecord | undefined): void {
    const old = this.#files.get(name);
    if (old) this.#filesOf.get(old.ca.fingerprint)?.delete(name);
    if (!record) {
      this.#files.delete(name);
      return;
    }
    this.#files.set(name, record);
    const set = this.#filesOf.get(record.ca.fingerprint) ?? new Set<string>();
    set.add(name);
    this.#filesOf.set(record.ca.fingerprint, set);
  }

  /**
   * Applies an in-memory change of some CAs' files, then their links, logs and listeners. The
   * listeners are told even when the links cannot be written (#keepLinks repairs them later).
   */
  async #change(fps: readonly string[], apply: () => void): Promise<void> {
    const before = this.#scopes(fps);
    const previous = this.#entriesOf(fps);
    apply();
    const moves = [...new Set(fps)].map((fp) => {
      this.#recompute(fp);
      return { was: previous.get(fp), now: this.#entries.get(fp) };
    });
    // The change is in memory and in the CA files from here on: the listeners hear of it whatever
    // becomes of the links (a removal must reach the peer's links even on a full disk).
    await this.#keepLinks(async () => {
      let touched = false;
      for (const { was, now } of moves) {
        const hash = this.#hashOf(now ?? was);
        if (!hash) continue;
        if (was && (!now || was.file !== now.file)) touched = (await this.#links.remove({ hash, target: basename(was.file) })) || touched;
        if (now) touched = (await this.#links.add({ hash, target: basename(now.file) })) || touched;
      }
      return touched;
    });
    this.#report({ fps: new Set(fps), before, previous });
  }

  /** Derives one CA's entry from the files holding it (or drops it when none does). */
  #recompute(fp: string): void {
    this.#pemsStale = true;
    const held = [...(this.#filesOf.get(fp) ?? [])].sort();
    const records = held.flatMap((f) => {
      const r = this.#inEffect(this.#files.get(f));
      return r ? [[f, r] as const] : [];
    });
    const files = records.map(([f]) => f);
    const first = records[0];
    if (!first) {
      if (held.length === 0) this.#filesOf.delete(fp);
      this.#entries.delete(fp);
      this.#parsed.delete(fp);
      this.#hashes.delete(fp);
      return;
    }
    const names = new Set<string>();
    const unbound: string[] = [];
    for (const [f, r] of records) {
      if (r.names) for (const n of r.names) names.add(n);
      else unbound.push(join(this.dir, f));
    }
    // Prefer the canonical <fingerprint>.pem as the file the CA is reported under.
    const canonical = files.find((f) => f === `${fp}.pem`) ?? first[0];
    // A binding in any of its files limits the CA: the attested scope is never widened by a copy.
    const attestedNames = names.size ? [...names].sort() : undefined;
    this.#entries.set(fp, {
      ...first[1].ca,
      file: join(this.dir, canonical),
      files: files.map((f) => join(this.dir, f)),
      unboundFiles: unbound,
      ...(attestedNames ? { attestedNames } : {}),
    });
  }

  /**
   * A file's record as it counts now: without the bindings to names being revoked; undefined when it
   * bound only such names (it must not count as a CA placed by hand, which vouches for any name).
   */
  #inEffect(r: FileRecord | undefined): FileRecord | undefined {
    if (!r?.names || this.#revoking.size === 0) return r;
    const names = r.names.filter((n) => !this.#revoking.has(n));
    if (names.length === r.names.length) return r;
    return names.length > 0 ? { ...r, names } : undefined;
  }

  #hashOf(e: Entry | undefined): string | undefined {
    if (!e) return undefined;
    const cached = this.#hashes.get(e.fingerprint);
    if (cached) return cached;
    try {
      const hash = opensslSubjectHash(e.pem);
      this.#hashes.set(e.fingerprint, hash);
      return hash;
    } catch (err) {
      this.#log?.warn(`trust store: no -CApath link for CA ${e.fingerprint}: ${errorMessage(err)}`);
      return undefined;
    }
  }

  /** The entries of `fps` as they are now (those trusted). */
  #entriesOf(fps: readonly string[]): Map<string, Entry> {
    return new Map(fps.flatMap((fp) => {
      const e = this.#entries.get(fp);
      return e ? [[fp, e] as const] : [];
    }));
  }

  #scopes(fps: Iterable<string>): Map<string, ScopeKey> {
    return new Map([...fps].map((fp) => [fp, scopeKey(this.#entries.get(fp))]));
  }

  /** Logs what changed for `fps` and tells the listeners whom it concerns. */
  #report(r: { fps: ReadonlySet<string>; before: ReadonlyMap<string, ScopeKey>; previous: ReadonlyMap<string, Entry>; revoked?: readonly string[] }): void {
    let anyName = false;
    const names = new Set<string>();
    for (const fp of r.fps) {
      const was = r.before.get(fp);
      const entry = this.#entries.get(fp);
      const now = scopeKey(entry);
      if (was === now) continue;
      if (was === '*' || now === '*') anyName = true;
      for (const n of [...(r.previous.get(fp)?.attestedNames ?? []), ...(entry?.attestedNames ?? [])]) names.add(n);
      if (entry && was === undefined) {
        const scope = entry.attestedNames ? `for ${entry.attestedNames.join(', ')} only (attested)` : 'for any name (placed by hand)';
        this.#log?.info(`trust store: trusting CA ${fp} "${entry.subject}" ${scope} (${entry.file})`, { event: 'CA_TRUSTED' });
      } else if (!entry) {
        const old = r.previous.get(fp);
        this.#log?.info(`trust store: no longer trusting CA ${fp} "${old?.subject ?? ''}"`, { event: 'CA_UNTRUSTED' });
      } else if (entry.attestedNames) {
        this.#log?.info(`trust store: CA ${fp} bound to ${entry.attestedNames.join(', ')}`, { event: 'CA_BOUND' });
      }
    }
    if (!anyName && names.size === 0) return;
    const change: TrustChange = { anyName, names: [...names].sort(), ...(r.revoked ? { revoked: r.revoked } : {}) };
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (err) {
        this.#log?.warn(`trust store: a change listener threw: ${String(err)}`);
      }
    }
  }
}

function scopeKey(e: Entry | undefined): ScopeKey {
  if (!e) return undefined;
  return e.attestedNames ? e.attestedNames.join(',') : '*';
}

function publicView(e: Entry): TrustedCa {
  return {
    fingerprint: e.fingerprint,
    subject: e.subject,
    pem: e.pem,
    file: e.file,
    ...(e.attestedNames ? { attestedNames: e.attestedNames } : {}),
  };
}

/** Accepts `AB:CD:…` or hex in either case; the store keys on lowercase hex. */
function normaliseFingerprint(fp: string): string {
  return fp.replace(/:/g, '').trim().toLowerCase();
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

export { TrustStoreError };
