import { checkNeighbour, type LldpNeighbour } from './neighbour-check.ts';

/** What changed for the daemon: a neighbour to dial (new, or at a new address), or one gone. */
export type NeighbourChange =
  | { readonly type: 'up'; readonly neighbour: LldpNeighbour }
  | { readonly type: 'gone'; readonly name: string };

/** Raw values of one LLDP object as read from D-Bus; either may be absent or of any type. */
export interface RawNeighbour {
  readonly name?: unknown;
  readonly address?: unknown;
}

/** The result of one update: changes to act on, and problems to log (one line each). */
export interface TableUpdate {
  readonly changes: readonly NeighbourChange[];
  readonly problems: readonly string[];
}

/** Limits and identity of the table. */
export interface NeighbourTableOptions {
  /** Most LLDP objects remembered at once; more are refused (and logged) until some go. */
  readonly maxObjects: number;
  readonly ownName: string;
}

/** Longest raw string kept: longer values are refused anyway, and must not fill memory. */
const RAW_MAX = 512;

const keepRaw = (v: unknown): unknown => (typeof v === 'string' && v.length > RAW_MAX ? v.slice(0, RAW_MAX + 1) : v);

/**
 * The LLDP neighbours of our interface, by D-Bus object path, reduced to peers by SystemName. Pure
 * and bounded: at most `maxObjects` objects, strings capped. When two objects claim one name, the
 * first one seen wins while it lasts; the other is reported as a duplicate and ignored.
 */
export class NeighbourTable {
  private readonly raw = new Map<string, RawNeighbour>();
  private readonly accepted = new Map<string, LldpNeighbour>();
  /** Paths per name, in the order they claimed it. */
  private readonly claims = new Map<string, string[]>();

  constructor(private readonly opts: NeighbourTableOptions) {}

  /** Number of objects currently held (accepted or not). */
  get size(): number {
    return this.raw.size;
  }

  /** The current peers: one per name. */
  neighbours(): LldpNeighbour[] {
    const out: LldpNeighbour[] = [];
    for (const name of this.claims.keys()) {
      const n = this.effective(name);
      if (n) out.push(n);
    }
    return out;
  }

  /** Sets (replace) or merges (PropertiesChanged) an object's values. */
  update(path: string, values: RawNeighbour, mode: 'replace' | 'merge'): TableUpdate {
    const before = this.raw.get(path);
    if (!before && this.raw.size >= this.opts.maxObjects) {
      return { changes: [], problems: [`${path}: ignored, already ${this.opts.maxObjects} LLDP objects (lldp_max_neighbors)`] };
    }
    const next: RawNeighbour =
      mode === 'merge' && before
        ? {
            name: 'name' in values ? keepRaw(values.name) : before.name,
            address: 'address' in values ? keepRaw(values.address) : before.address,
          }
        : { name: keepRaw(values.name), address: keepRaw(values.address) };
    this.raw.set(path, next);
    const check = checkNeighbour({ name: next.name, address: next.address }, { ownName: this.opts.ownName });
    const old = this.accepted.get(path);
    const touched = new Set<string>();
    if (old) touched.add(old.name);
    const problems: string[] = [];
    const beforeState = this.snapshot([...touched, ...(check.ok ? [check.neighbour.name] : [])]);
    if (old) this.unclaim(path, old.name);
    if (check.ok) {
      this.accepted.set(path, check.neighbour);
      this.claim(path, check.neighbour.name);
      const winner = this.effective(check.neighbour.name);
      if (winner && winner.address !== check.neighbour.address) {
        problems.push(
          `${path}: duplicate SystemName ${check.neighbour.name} (address ${check.neighbour.address}) ignored: ${winner.name} stays at ${winner.address}`,
        );
      }
    } else {
      this.accepted.delete(path);
      problems.push(`${path}: ${check.reason}`);
    }
    return { changes: this.diff(beforeState), problems };
  }

  /** An object went away (InterfacesRemoved). */
  remove(path: string): TableUpdate {
    this.raw.delete(path);
    const old = this.accepted.get(path);
    if (!old) return { changes: [], problems: [] };
    const beforeState = this.snapshot([old.name]);
    this.accepted.delete(path);
    this.unclaim(path, old.name);
    return { changes: this.diff(beforeState), problems: [] };
  }

  /** Replaces the whole table with what a fresh read found (start, or the LLDP service restarted). */
  resync(objects: ReadonlyMap<string, RawNeighbour>): TableUpdate {
    const before = this.snapshot([...this.claims.keys()]);
    const problems: string[] = [];
    for (const path of [...this.raw.keys()]) {
      if (!objects.has(path)) this.remove(path);
    }
    for (const [path, values] of objects) problems.push(...this.update(path, values, 'replace').problems);
    for (const name of this.claims.keys()) if (!before.has(name)) before.set(name, undefined);
    return { changes: this.diff(before), problems };
  }

  private claim(path: string, name: string): void {
    const paths = this.claims.get(name) ?? [];
    if (!paths.includes(path)) paths.push(path);
    this.claims.set(name, paths);
  }

  private unclaim(path: string, name: string): void {
    const rest = (this.claims.get(name) ?? []).filter((p) => p !== path);
    if (rest.length) this.claims.set(name, rest);
    else this.claims.delete(name);
  }

  private effective(name: string): LldpNeighbour | undefined {
    const [first] = this.claims.get(name) ?? [];
    return first === undefined ? undefined : this.accepted.get(first);
  }

  private snapshot(names: readonly string[]): Map<string, string | undefined> {
    return new Map(names.map((n) => [n, this.effective(n)?.address]));
  }

  private diff(before: Map<string, string | undefined>): NeighbourChange[] {
    const changes: NeighbourChange[] = [];
    for (const [name, was] of before) {
      const now = this.effective(name);
      if (now && now.address !== was) changes.push({ type: 'up', neighbour: now });
      else if (!now && was !== undefined) changes.push({ type: 'gone', name });
    }
    return changes;
  }
}
