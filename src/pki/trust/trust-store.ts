import { X509Certificate } from 'node:crypto';
import { watch as fsWatch, mkdirSync, type FSWatcher } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log.ts';
import { syncDir, writeFileAtomic } from '../../util/atomic-file.ts';
import { parseCaPem, type ParsedCa } from './ca-certificate-pem.ts';
import { boundNamesOf, boundPem, type NameScope } from './name-binding.ts';
import { opensslSubjectHash } from './openssl-subject-hash.ts';
import { SerialQueue } from '../../util/serial-queue.ts';
import { TrustStoreError } from './trust-store-error.ts';

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
}

/** File names the store reads as CA certificates (hash links and dot-files are not). */
const CA_FILE = /^[^.].*\.(pem|crt|cer)$/i;
/** OpenSSL's `-CApath` link names: subject hash, dot, collision index. */
const HASH_LINK = /^([0-9a-f]{8})\.(\d+)$/;
const MAX_FILE_BYTES = 1024 * 1024;
const WATCH_DEBOUNCE_MS = 200;
/** The store is provisioningd's own: nobody else reads it, and only root may change what it trusts. */
const DIR_MODE = 0o700;

interface Entry extends TrustedCa {
  /** Every file holding this same certificate (an operator may have copied it under another name). */
  readonly files: readonly string[];
  /** The files that carry no binding (placed by hand). */
  readonly unboundFiles: readonly string[];
}

/** A peer name as the binding accepts it: a host name, as ProvisionPeer's device id. */
const BINDABLE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?$/;

/**
 * The trusted peer CAs: a directory of PEM files plus OpenSSL subject-hash links so that
 * `openssl verify -CApath` and Node's TLS (through caPems()) agree on the same set.
 * Every operation re-reads the directory, so PEMs placed by hand are honoured.
 */
export class TrustStore {
  readonly dir: string;
  #log: Logger | undefined;
  #entries: readonly Entry[] = [];
  #pems: readonly string[] = Object.freeze([]);
  #hashes = new Map<string, string>();
  /** Parsed certificates by fingerprint, for the name-binding check on each handshake. */
  #parsed = new Map<string, X509Certificate>();
  #queue = new SerialQueue();
  #listeners = new Set<() => void>();
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;

  constructor(opts: TrustStoreOptions) {
    this.dir = opts.dir;
    this.#log = opts.log;
  }

  /** Re-reads the directory (creating it, 0700, if missing) and repairs the hash links. */
  reload(): Promise<void> {
    return this.#serial(async () => {
      await this.#sync();
    });
  }

  /** The peer names an attested CA is bound to, as of the last read (sorted, each once). */
  attestedNames(): readonly string[] {
    return [...new Set(this.#entries.flatMap((e) => e.attestedNames ?? []))].sort();
  }

  /** The trusted CA certificates as of the last read, for `tls.createSecureContext({ ca })`. */
  caPems(): readonly string[] {
    return this.#pems;
  }

  /** Re-reads the directory and returns the trusted CAs. */
  list(): Promise<readonly TrustedCa[]> {
    return this.#serial(async () => {
      await this.#sync();
      return this.#entries.map(publicView);
    });
  }

  /**
   * Trusts a CA certificate: writes `<fingerprint>.pem` (0644, atomically) and its hash link.
   * Idempotent. Throws TrustStoreError for anything but exactly one CA certificate.
   */
  async add(pem: string): Promise<TrustedCa> {
    const parsed = parseCaPem(pem);
    return await this.#serial(async () => {
      await this.#sync({
        mutate: async (entries) => {
          const existing = entries.find((e) => e.fingerprint === parsed.fingerprint);
          if (existing) return entries;
          const file = join(this.dir, `${parsed.fingerprint}.pem`);
          await writeFileAtomic({ path: file, data: parsed.pem, mode: 0o644 });
          return [...entries, { ...parsed, file, files: [file], unboundFiles: [file] }];
        },
      });
      const entry = this.#entries.find((e) => e.fingerprint === parsed.fingerprint);
      if (!entry) throw new Error(`trust store: CA ${parsed.fingerprint} vanished while being added`);
      return publicView(entry);
    });
  }

  /**
   * Trusts a CA for one attested BMC name only: writes `<fingerprint>.pem` with an
   * `Attested-Name:` header (one atomic write: certificate and binding together, or nothing) and its
   * hash link. A CA already bound to other names keeps them and gains this one. Another CA that was
   * bound to this name alone (the peer's previous CA, also written by attestation) is removed: the
   * name now belongs to the CA just attested. Throws TrustStoreError for anything but one CA
   * certificate or a name that is not a host name; nothing is written then.
   */
  async addAttested(pem: string, name: string): Promise<TrustedCa> {
    const parsed = parseCaPem(pem);
    if (!BINDABLE_NAME.test(name)) {
      throw new TrustStoreError('BAD_NAME', `cannot bind a CA to "${name}": not a host name`);
    }
    return await this.#serial(async () => {
      await this.#sync({
        mutate: async (entries) => {
          const file = join(this.dir, `${parsed.fingerprint}.pem`);
          const existing = entries.find((e) => e.fingerprint === parsed.fingerprint);
          const names = [...new Set([...(existing?.attestedNames ?? []), name])].sort();
          const unboundFiles = (existing?.unboundFiles ?? []).filter((f) => f !== file);
          await writeFileAtomic({ path: file, data: boundPem(names, parsed.pem), mode: 0o644 });
          const entry: Entry = {
            ...parsed,
            file,
            files: [...new Set([...(existing?.files ?? []), file])],
            unboundFiles,
            attestedNames: names,
          };
          const kept: Entry[] = [];
          for (const e of entries) {
            if (e.fingerprint === parsed.fingerprint) continue;
            const supersededByThis =
              e.unboundFiles.length === 0 && e.attestedNames?.length === 1 && e.attestedNames[0] === name;
            if (!supersededByThis) {
              kept.push(e);
              continue;
            }
            for (const f of e.files) await unlink(f).catch(ignoreMissing);
            this.#log?.info(`trust store: CA ${e.fingerprint} was bound to ${name} only; replaced by ${parsed.fingerprint}`, {
              peer: name,
              event: 'CA_SUPERSEDED',
            });
          }
          return [...kept, entry];
        },
      });
      const entry = this.#entries.find((e) => e.fingerprint === parsed.fingerprint);
      if (!entry) throw new Error(`trust store: CA ${parsed.fingerprint} vanished while being added`);
      return publicView(entry);
    });
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
    for (const e of this.#entries) {
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

  /**
   * Why a peer certificate for `name` must be refused under the name bindings, or undefined when
   * its issuing CA may vouch for that name. `leafDer` is the peer's leaf certificate (DER).
   */
  nameBindingRefusal(leafDer: Uint8Array, name: string): string | undefined {
    // Called on every handshake after TLS verified the chain: with no attested (bound) CA in the
    // store every trusted CA may vouch for any name, so there is nothing to parse or verify again.
    if (!this.#entries.some((e) => e.attestedNames)) return undefined;
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(leafDer);
    } catch (err) {
      return `cannot parse the peer certificate: ${err instanceof Error ? err.message : String(err)}`;
    }
    const scope = this.nameScopeFor(leaf);
    if (!scope) return `no trusted CA issued the certificate for ${name}`;
    if (scope.kind === 'any' || scope.names.includes(name)) return undefined;
    return `the certificate names ${name}, but its CA was attested for ${scope.names.join(', ')} only`;
  }

  /** Stops trusting a CA: removes every file holding it and its hash link. False if it was not there. */
  async remove(fingerprint: string): Promise<boolean> {
    const fp = normaliseFingerprint(fingerprint);
    return await this.#serial(async () => {
      let removed = false;
      await this.#sync({
        mutate: async (entries) => {
          const entry = entries.find((e) => e.fingerprint === fp);
          if (!entry) return entries;
          for (const f of entry.files) await unlink(f).catch(ignoreMissing);
          removed = true;
          return entries.filter((e) => e !== entry);
        },
      });
      return removed;
    });
  }

  /** Calls `listener` after any operation that changed the trusted set; returns an unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Watches the directory so PEMs placed or deleted by hand are picked up (debounced reload). */
  watch(): void {
    if (this.#watcher) return;
    mkdirSync(this.dir, { recursive: true, mode: DIR_MODE });
    this.#watcher = fsWatch(this.dir, () => {
      if (this.#debounce) clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => {
        this.#debounce = undefined;
        this.reload().catch((err: unknown) =>
          this.#log?.warn(`trust store: reload after a change in ${this.dir} failed: ${String(err)}`),
        );
      }, WATCH_DEBOUNCE_MS);
    });
    this.#watcher.on('error', (err) => this.#log?.warn(`trust store: watching ${this.dir} failed: ${err.message}`));
  }

  /** Stops watching. */
  close(): void {
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = undefined;
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

  #serial<T>(op: () => Promise<T>): Promise<T> {
    return this.#queue.run(op);
  }

  /** Reads the directory, applies an optional change, rewrites the hash links, notifies on change. */
  async #sync(opts: { mutate?: (entries: readonly Entry[]) => Promise<readonly Entry[]> } = {}): Promise<void> {
    const previous = this.#entries;
    await this.#ensureDir();
    let entries: readonly Entry[] = await this.#scan();
    if (opts.mutate) entries = await opts.mutate(entries);
    entries = [...entries].sort((a, b) => a.subject.localeCompare(b.subject) || a.fingerprint.localeCompare(b.fingerprint));
    await this.#rehash(entries);
    this.#entries = entries;
    this.#pems = Object.freeze(entries.map((e) => e.pem));
    for (const fp of this.#parsed.keys()) if (!entries.some((e) => e.fingerprint === fp)) this.#parsed.delete(fp);
    const was = new Set(previous.map((e) => e.fingerprint));
    const now = new Set(entries.map((e) => e.fingerprint));
    const scopeOf = (e: Entry) => `${e.fingerprint}=${e.attestedNames?.join(',') ?? '*'}`;
    const scopesWere = new Set(previous.map(scopeOf));
    const scopeChanged = entries.some((e) => !scopesWere.has(scopeOf(e)));
    for (const e of entries) {
      if (!was.has(e.fingerprint)) {
        const scope = e.attestedNames ? `for ${e.attestedNames.join(', ')} only (attested)` : 'for any name (placed by hand)';
        this.#log?.info(`trust store: trusting CA ${e.fingerprint} "${e.subject}" ${scope} (${e.file})`, { event: 'CA_TRUSTED' });
      }
    }
    for (const e of previous) {
      if (!now.has(e.fingerprint)) this.#log?.info(`trust store: no longer trusting CA ${e.fingerprint} "${e.subject}"`, { event: 'CA_UNTRUSTED' });
    }
    for (const e of entries) {
      if (was.has(e.fingerprint) && e.attestedNames && !scopesWere.has(scopeOf(e))) {
        this.#log?.info(`trust store: CA ${e.fingerprint} bound to ${e.attestedNames.join(', ')}`, { event: 'CA_BOUND' });
      }
    }
    if (was.size !== now.size || [...now].some((fp) => !was.has(fp)) || scopeChanged) {
      for (const l of this.#listeners) {
        try {
          l();
        } catch (err) {
          this.#log?.warn(`trust store: a change listener threw: ${String(err)}`);
        }
      }
    }
  }

  async #ensureDir(): Promise<void> {
    const created = await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
    if (created !== undefined) await chmod(this.dir, DIR_MODE);
  }

  async #scan(): Promise<Entry[]> {
    const byFingerprint = new Map<string, { ca: ParsedCa; files: string[]; unbound: string[]; names: Set<string> }>();
    const names = (await readdir(this.dir, { withFileTypes: true }))
      .filter((d) => d.isFile() && CA_FILE.test(d.name))
      .map((d) => d.name)
      .sort();
    for (const name of names) {
      const file = join(this.dir, name);
      let ca: ParsedCa;
      let bound: readonly string[] | undefined;
      try {
        const st = await lstat(file);
        if (st.size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
        const text = await readFile(file, 'utf8');
        ca = parseCaPem(text);
        bound = boundNamesOf(text);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        this.#log?.warn(`trust store: ignoring ${file}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const slot = byFingerprint.get(ca.fingerprint) ?? { ca, files: [], unbound: [], names: new Set<string>() };
      slot.files.push(file);
      if (bound) for (const n of bound) slot.names.add(n);
      else slot.unbound.push(file);
      byFingerprint.set(ca.fingerprint, slot);
    }
    return [...byFingerprint.values()].map(({ ca, files, unbound, names }) => {
      // Prefer the canonical <fingerprint>.pem as the file the CA is reported under.
      const canonical = files.find((f) => f.endsWith(`/${ca.fingerprint}.pem`)) ?? files[0] ?? '';
      // A binding in any of its files limits the CA: the attested scope is never widened by a copy.
      const attestedNames = names.size ? [...names].sort() : undefined;
      return { ...ca, file: canonical, files, unboundFiles: unbound, ...(attestedNames ? { attestedNames } : {}) };
    });
  }

  async #subjectHash(entry: Entry): Promise<string> {
    const cached = this.#hashes.get(entry.fingerprint);
    if (cached) return cached;
    const hash = await opensslSubjectHash(entry.pem);
    this.#hashes.set(entry.fingerprint, hash);
    return hash;
  }

  /**
   * Makes the `<hash>.<n>` links exactly match the trusted set. Indexes within one hash are kept
   * dense from 0 (OpenSSL stops at the first missing index), existing assignments are kept when
   * possible, links are replaced by rename so a concurrent verifier never sees a gap.
   */
  async #rehash(entries: readonly Entry[]): Promise<void> {
    const existing = new Map<string, string>(); // link name -> target file name
    for (const d of await readdir(this.dir, { withFileTypes: true })) {
      if (d.isSymbolicLink() && HASH_LINK.test(d.name)) {
        existing.set(d.name, await readlink(join(this.dir, d.name)).catch(() => ''));
      }
    }
    const buckets = new Map<string, { target: string; order: number }[]>();
    for (const e of entries) {
      const hash = await this.#subjectHash(e);
      const target = e.file.slice(this.dir.length + 1);
      let order = Number.MAX_SAFE_INTEGER;
      for (const [link, t] of existing) {
        const m = HASH_LINK.exec(link);
        if (m && m[1] === hash && t === target) order = Math.min(order, Number(m[2]));
      }
      const bucket = buckets.get(hash) ?? [];
      bucket.push({ target, order });
      buckets.set(hash, bucket);
    }
    const wanted = new Map<string, string>();
    for (const [hash, bucket] of buckets) {
      bucket.sort((a, b) => a.order - b.order || a.target.localeCompare(b.target));
      for (const [i, b] of bucket.entries()) wanted.set(`${hash}.${i}`, b.target);
    }
    let touched = false;
    for (const [link, target] of wanted) {
      if (existing.get(link) === target) continue;
      const tmp = join(this.dir, `.${link}.${randomBytes(4).toString('hex')}.tmp`);
      await symlink(target, tmp);
      await rename(tmp, join(this.dir, link));
      touched = true;
    }
    for (const link of existing.keys()) {
      if (!wanted.has(link)) {
        await unlink(join(this.dir, link)).catch(ignoreMissing);
        touched = true;
      }
    }
    if (touched) await syncDir(this.dir);
  }
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
