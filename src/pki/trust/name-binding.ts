/**
 * The attested-name binding of a trusted CA, kept inside its PEM file as header lines before the
 * certificate block: `Attested-Name: bmc-b`. OpenSSL (and every PEM reader) skips text before
 * `-----BEGIN`, so `openssl verify -CApath` reads the file unchanged, and the binding and the
 * certificate are written together in one atomic file write: never one without the other.
 */
import { isPeerName } from '../../../machines/device-id.ts';
import { quoteForLog } from '../../log-escape.ts';

/** The header line that binds a CA to one BMC name, as written. */
const BINDING_PREFIX = 'Attested-Name: ';

/**
 * A header line that claims a binding, however it is spelled (case, spaces): its name must be a
 * peer name, or the file binds nothing and is refused (boundNamesOf throws). A line the store would
 * not read as a binding would leave the CA looking placed by hand, trusted for any name.
 */
const CLAIMED_BINDING = /^\s*attested-name\s*:(.*)$/is;

/**
 * The names a PEM file's header binds its CA to; undefined when the file carries no binding (placed
 * by hand). Throws when a binding line does not name a peer by the one grammar of peer names
 * (machines/device-id.ts), so that a binding can never widen into trust for any name.
 */
export function boundNamesOf(text: string): readonly string[] | undefined {
  const begin = text.indexOf('-----BEGIN');
  const header = begin < 0 ? '' : text.slice(0, begin);
  const names: string[] = [];
  for (const line of header.split('\n')) {
    const claimed = CLAIMED_BINDING.exec(line);
    if (!claimed) continue;
    const name = (claimed[1] ?? '').trim();
    if (!isPeerName(name)) throw new Error(`an Attested-Name line names no peer (${quoteForLog(name)}): a binding that cannot be read binds nothing, so the CA is not trusted`);
    names.push(name);
  }
  return names.length ? [...new Set(names)].sort() : undefined;
}

/** The file text of a bound CA: one `Attested-Name:` line per name, then the certificate PEM. Throws for a name that is not a peer name (it could not be read back). */
export function boundPem(names: readonly string[], certificatePem: string): string {
  const bad = names.find((n) => !isPeerName(n));
  if (bad !== undefined) throw new Error(`cannot bind a CA to ${quoteForLog(bad)}: not a peer name`);
  const lines = [...new Set(names)].sort().map((n) => `${BINDING_PREFIX}${n}\n`);
  return `${lines.join('')}${certificatePem}`;
}

/** Which peer names a trusted CA may vouch for: any name (placed by hand) or only the attested ones. */
export type NameScope = { readonly kind: 'any' } | { readonly kind: 'bound'; readonly names: readonly string[] };
