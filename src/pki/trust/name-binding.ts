/**
 * The attested-name binding of a trusted CA, kept inside its PEM file as header lines before the
 * certificate block: `Attested-Name: bmc-b`. OpenSSL (and every PEM reader) skips text before
 * `-----BEGIN`, so `openssl verify -CApath` reads the file unchanged, and the binding and the
 * certificate are written together in one atomic file write: never one without the other.
 */

/** The header line that binds a CA to one BMC name. */
const BINDING_LINE = /^Attested-Name: ([A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?)\s*$/gm;

/** The names a PEM file's header binds its CA to; undefined when the file carries no binding (placed by hand). */
export function boundNamesOf(text: string): readonly string[] | undefined {
  const begin = text.indexOf('-----BEGIN');
  const header = begin < 0 ? '' : text.slice(0, begin);
  const names = [...header.matchAll(BINDING_LINE)].map((m) => m[1] ?? '').filter(Boolean);
  return names.length ? [...new Set(names)].sort() : undefined;
}

/** The file text of a bound CA: one `Attested-Name:` line per name, then the certificate PEM. */
export function boundPem(names: readonly string[], certificatePem: string): string {
  const lines = [...new Set(names)].sort().map((n) => `Attested-Name: ${n}\n`);
  return `${lines.join('')}${certificatePem}`;
}

/** Which peer names a trusted CA may vouch for: any name (placed by hand) or only the attested ones. */
export type NameScope = { readonly kind: 'any' } | { readonly kind: 'bound'; readonly names: readonly string[] };
