import { constants } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { TrustStore } from '../pki/trust/index.ts';
import type { TlsCredentials } from '../pki/certificate/index.ts';

/** The protocol floor of the peer link: TLS 1.2, with 1.3 negotiated whenever both ends have it. */
export const TLS_MIN_VERSION = 'TLSv1.2';

/** TLS 1.3 suites (all AEAD, key exchange always ephemeral). */
export const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;

/** TLS 1.2 suites: ECDHE key exchange and AEAD ciphers only (no CBC, no static RSA, no DHE). */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
] as const;

/** The cipher string handed to OpenSSL (Node splits the TLS 1.3 names out itself). */
export const LINK_CIPHERS = [...TLS13_SUITES, ...TLS12_CIPHERS].join(':');

/** Key-exchange groups, in preference order. */
export const LINK_ECDH_CURVES = 'X25519:prime256v1:secp384r1';

/**
 * No session tickets (a resumed session would skip the trust store and EKU checks of a full
 * handshake) and no TLS 1.2 renegotiation (a cheap way to make the server do expensive work).
 */
const LINK_SECURE_OPTIONS = constants.SSL_OP_NO_TICKET | constants.SSL_OP_NO_RENEGOTIATION;

/**
 * Where the link reads the trusted peer CAs from: the trust store, or anything shaped like it.
 * caPems() hands out a new array whenever the set changes (never the old one mutated).
 * nameBindingRefusal(), when present, limits an attested CA to the names it was attested for;
 * vouchesFor() / vouchesForAnyName(), when present, tell a peer not attested yet from an impostor in the logs.
 */
export type TrustedCaSource = Pick<TrustStore, 'caPems' | 'onChange'> & Partial<Pick<TrustStore, 'nameBindingRefusal' | 'establishedLinkRefusal' | 'vouchesFor' | 'vouchesForAnyName'>>;

/** What a link's TLS context is built from: this BMC's leaf for the role, and the peer CAs. */
export interface LinkContextInput {
  readonly credentials: TlsCredentials;
  readonly trustedCas: readonly string[];
}

/**
 * The TLS options shared by responder and client. `ca` is always an explicit list: an empty trust
 * store trusts nobody, and the system's public roots are never consulted.
 */
export function linkContextOptions(input: LinkContextInput): SecureContextOptions {
  return {
    key: input.credentials.keyPem,
    cert: input.credentials.certChainPem,
    ca: [...input.trustedCas],
    minVersion: TLS_MIN_VERSION,
    ciphers: LINK_CIPHERS,
    ecdhCurve: LINK_ECDH_CURVES,
    honorCipherOrder: true,
    secureOptions: LINK_SECURE_OPTIONS,
  };
}

/** The client context last built per leaf, with the CA list it was built from. */
const clientContexts = new WeakMap<TlsCredentials, { trustedCas: readonly string[]; context: SecureContext }>();

/**
 * The client's TLS context for these credentials and trusted CAs, built once and shared by every
 * connection attempt until either changes (both are replaced, never mutated, on a change). Building
 * one parses the key, the chain and every CA PEM, which costs more than the handshake itself.
 * Throws as createSecureContext does when a PEM is broken.
 */
export function linkClientContext(input: LinkContextInput): SecureContext {
  const cached = clientContexts.get(input.credentials);
  if (cached?.trustedCas === input.trustedCas) return cached.context;
  const context = createSecureContext(linkContextOptions(input));
  clientContexts.set(input.credentials, { trustedCas: input.trustedCas, context });
  return context;
}
