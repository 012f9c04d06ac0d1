/**
 * The discovered peers whose neighbour left, after `name` left too, at most `max` of them without
 * trust: a LAN that announces ever new names and drops them must not grow the list (and the D-Bus
 * objects it shows) without end. The oldest untrusted ones go first; names an attested CA is bound
 * to are all kept (the trust store bounds them).
 */
export function addDeparted(opts: { departed: readonly string[]; name: string; attestedNames: readonly string[]; max: number }): string[] {
  const all = opts.departed.includes(opts.name) ? [...opts.departed] : [...opts.departed, opts.name];
  let excess = all.filter((n) => !opts.attestedNames.includes(n)).length - opts.max;
  return all.filter((n) => opts.attestedNames.includes(n) || excess-- <= 0);
}
