import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { CodedError } from '../util/coded-error.ts';
import { peerValidityRefusal } from './peer-validity.ts';
import { printableLine } from './line-protocol.ts';

/** Extended key usage OIDs the link requires of the peer's leaf. */
export const EKU = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const;

/** Why a peer certificate was not accepted; `code` is stable for logs and error classification. */
export class PeerIdentityError extends CodedError<'ERR_PEER_EKU' | 'ERR_PEER_NO_NAME' | 'ERR_TLS_CERT_ALTNAME_INVALID' | 'ERR_PEER_NAME_NOT_BOUND' | 'ERR_PEER_VALIDITY'> {
  override readonly name = 'PeerIdentityError';
}

/**
 * Splits Node's rendering of subjectAltName (`DNS:a, IP Address:…`) into entries. Node quotes a
 * value that contains `,` or `"` (JSON-style, with backslash escapes), so a comma inside quotes does
 * not end an entry; quoted entries are reported as such.
 */
function sanEntries(san: string): { text: string; quoted: boolean }[] {
  const entries: { text: string; quoted: boolean }[] = [];
  let text = '';
  let quoted = false;
  let inQuotes = false;
  for (let i = 0; i < san.length; i++) {
    const ch = san[i];
    if (inQuotes) {
      if (ch === '\\') text += san[++i] ?? '';
      else if (ch === '"') inQuotes = false;
      else text += ch;
    } else if (ch === '"') {
      inQuotes = quoted = true;
    } else if (ch === ',' && san[i + 1] === ' ') {
      entries.push({ text, quoted });
      text = '';
      quoted = false;
      i++;
    } else {
      text += ch;
    }
  }
  if (text || quoted) entries.push({ text, quoted });
  return entries;
}

/** The DNS names in a certificate's subjectAltName. Quoted entries are skipped: no valid BMC name needs quoting. */
export function dnsNamesOf(cert: Pick<PeerCertificate, 'subjectaltname'>): string[] {
  if (!cert.subjectaltname) return [];
  return sanEntries(cert.subjectaltname)
    .filter((e) => !e.quoted && e.text.startsWith('DNS:'))
    .map((e) => e.text.slice(4));
}

/** The first subject common name, if any. */
export function commonNameOf(cert: Pick<PeerCertificate, 'subject'>): string | undefined {
  const cn: unknown = cert.subject?.CN;
  if (typeof cn === 'string' && cn) return cn;
  if (Array.isArray(cn) && typeof cn[0] === 'string') return cn[0];
  return undefined;
}

/** The peer's identity (the `name` it is configured or discovered under; docs/peer-link.md): the first DNS SAN, or the subject CN when there is none. */
export function peerNameOf(cert: Pick<PeerCertificate, 'subjectaltname' | 'subject'>): string | undefined {
  return dnsNamesOf(cert)[0] ?? commonNameOf(cert);
}

/** True when the certificate carries an extended key usage extension that lists `oid`. */
export function hasEku(cert: Pick<PeerCertificate, 'ext_key_usage'>, oid: string): boolean {
  return cert.ext_key_usage?.includes(oid) ?? false;
}

/**
 * The name-binding check of the trust store: given the peer's leaf (DER) and the name it is
 * accepted under, a refusal reason when its issuing CA was attested for other names only.
 */
export type NameBindingCheck = (leafDer: Uint8Array, name: string) => string | undefined;

/** Applies the trust store's name binding to an otherwise accepted peer certificate. */
function bindingError(binding: NameBindingCheck | undefined, cert: PeerCertificate, name: string): PeerIdentityError | undefined {
  const refusal = binding && cert.raw ? binding(cert.raw, name) : undefined;
  return refusal ? new PeerIdentityError('ERR_PEER_NAME_NOT_BOUND', refusal) : undefined;
}

/** Refuses a leaf whose validity is absurd (src/tls/peer-validity.ts), whatever OpenSSL made of it with our clock. */
function validityError(cert: PeerCertificate, what: string): PeerIdentityError | undefined {
  const refusal = peerValidityRefusal(cert, Date.now());
  return refusal ? new PeerIdentityError('ERR_PEER_VALIDITY', `${what} ${refusal}`) : undefined;
}

/** Names a certificate carries, as a refusal reason quotes them: a forged certificate may carry thousands, or junk. */
const SHOWN_NAMES = 3;
/** A host name has at most 253 characters; longer text in a certificate is cut to this. */
const SHOWN_NAME_CHARS = 253;

/** The first few names of a refused certificate, printable and cut, with a count of the rest. */
function shownNames(names: readonly string[]): string {
  const shown = names.slice(0, SHOWN_NAMES).map((n) => printableLine(n, SHOWN_NAME_CHARS));
  return names.length > SHOWN_NAMES ? `${shown.join(', ')} and ${names.length - SHOWN_NAMES} more` : shown.join(', ');
}

/**
 * The client's `checkServerIdentity`: the server's leaf must name `expected` in its DNS SAN (Node's
 * RFC 6125 rules), carry EKU serverAuth, have a sane validity, and come from a CA that may vouch for
 * `expected` (the trust store's name binding, when given). Returns the error, or undefined when it
 * is the right peer.
 */
export function checkServerPeer(expected: string, cert: PeerCertificate, binding?: NameBindingCheck): PeerIdentityError | undefined {
  const mismatch = checkServerIdentity(expected, cert);
  if (mismatch) {
    const names = dnsNamesOf(cert);
    return new PeerIdentityError(
      'ERR_TLS_CERT_ALTNAME_INVALID',
      `server certificate names ${names.length ? shownNames(names) : `no DNS name (CN ${shownNames([commonNameOf(cert) ?? 'none'])})`}, expected ${expected}`,
    );
  }
  if (!hasEku(cert, EKU.serverAuth)) {
    return new PeerIdentityError('ERR_PEER_EKU', 'server certificate lacks extended key usage serverAuth');
  }
  return validityError(cert, 'server') ?? bindingError(binding, cert, expected);
}

/**
 * The responder's check of an authenticated client leaf: EKU clientAuth, a usable name, a sane
 * validity, and a CA that may vouch for that name (the trust store's name binding, when given).
 */
export function checkClientPeer(cert: PeerCertificate, binding?: NameBindingCheck): { name: string } | PeerIdentityError {
  if (!hasEku(cert, EKU.clientAuth)) {
    return new PeerIdentityError('ERR_PEER_EKU', 'client certificate lacks extended key usage clientAuth');
  }
  const name = peerNameOf(cert);
  if (!name) return new PeerIdentityError('ERR_PEER_NO_NAME', 'client certificate has neither a DNS SAN nor a CN');
  return validityError(cert, 'client') ?? bindingError(binding, cert, name) ?? { name };
}
