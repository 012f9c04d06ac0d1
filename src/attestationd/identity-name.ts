import { X509Certificate } from 'node:crypto';
import type { AttestationOutcome } from './attestation-outcome.ts';

/** What is checked: the verified identity chain (leaf last), the device id asked for, and the policy. */
export interface IdentityNameCheck {
  readonly chain: readonly string[];
  readonly id: string;
  readonly policy: 'match' | 'any';
}

/** The leaf's subject on success (for logs); otherwise the failure outcome to publish. */
export type IdentityNameResult = { readonly ok: true; readonly subject: string } | Extract<AttestationOutcome, { ok: false }>;

const mismatch = (reason: string): IdentityNameResult => ({ ok: false, code: 'IDENTITY_NAME_MISMATCH', reason });

/**
 * Ties the attested name to the device: with `match`, the device identity certificate (whose key
 * signed the evidence, and whose chain ends at a configured root) must name the device id through
 * a subjectAltName dNSName, or through its subject CN when it has no dNSName (X509Certificate.checkHost,
 * exact names only, no wildcards). So a genuine device cannot be attested under another BMC's name.
 */
export function checkIdentityName(c: IdentityNameCheck): IdentityNameResult {
  const leafPem = c.chain[c.chain.length - 1];
  let leaf: X509Certificate | undefined;
  try {
    leaf = leafPem ? new X509Certificate(leafPem) : undefined;
  } catch {
    leaf = undefined;
  }
  if (!leaf) return c.policy === 'any' ? { ok: true, subject: '' } : mismatch('the device identity certificate cannot be read');
  const subject = leaf.subject.replace(/\n/g, ', ');
  if (c.policy === 'any') return { ok: true, subject };
  if (leaf.checkHost(c.id, { subject: 'default', wildcards: false, partialWildcards: false }) !== undefined) return { ok: true, subject };
  const names = leaf.subjectAltName ? `subjectAltName ${leaf.subjectAltName}` : subject || 'no name';
  return mismatch(`the device identity certificate names ${names}, not ${c.id}`);
}
