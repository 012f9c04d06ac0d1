import { createHash, X509Certificate as NodeX509 } from 'node:crypto';
import type { Logger } from '../../log.ts';
import { writeFileAtomic } from '../../util/atomic-file.ts';
import { buildCertificate, type CertificateSigner } from './certificate-builder.ts';
import { caCommonName, caProfile, leafProfile, type CertificateProfile } from './certificate-profile.ts';
import { randomSerial } from './certificate-serial.ts';
import { hexOf } from '../../util/hex.ts';
import { type CaKeyToken, keyIdentifier } from '../token/index.ts';
import { TokenCrypto } from './token-crypto.ts';
import { SubjectKeyIdentifierExtension, X509Certificate } from './x509.ts';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../../clock/skew-allowance.ts';
import { errorMessage } from '../../util/error-message.ts';
import { readTextWithin } from '../../util/read-file-within.ts';
import { TimeoutError } from '../../util/with-timeout.ts';

/** The CA as leaf issuance needs it: its certificate, the token signer and the leaf profile it issues with. */
export interface IssuingCa {
  readonly pem: string;
  /** SHA-256 of the certificate DER, lowercase hex. */
  readonly fingerprint: string;
  readonly spki: Uint8Array;
  readonly notAfter: Date;
  readonly leafProfile: CertificateProfile;
  /** The token's CA key in the token-backed WebCrypto, which signs the leaves. */
  readonly signer: CertificateSigner;
}

/** What the CA certificate is checked against, and where it lives. */
export interface CaCertificateRequest {
  readonly token: CaKeyToken;
  /** The token's CA public key (SPKI DER). */
  readonly spki: Uint8Array;
  readonly bmcName: string;
  readonly lifetimeDays: number;
  /** The certificate must stay valid at least this long, or it is renewed (same key). */
  readonly minRemainingMs: number;
  /** `certPaths(cert_root).selfCa`. */
  readonly file: string;
  readonly log: Logger;
  /** Deadline of reading `file`; default FILE_READ_TIMEOUT_MS. */
  readonly readTimeoutMs?: number;
}

function issuingCa(opts: {
  pem: string;
  der: Uint8Array;
  spki: Uint8Array;
  notAfter: Date;
  bmcName: string;
  keyId: Uint8Array;
  signer: CertificateSigner;
}): IssuingCa {
  return {
    pem: opts.pem,
    fingerprint: createHash('sha256').update(opts.der).digest('hex'),
    spki: opts.spki,
    notAfter: opts.notAfter,
    leafProfile: leafProfile({ bmcName: opts.bmcName, caKeyId: opts.keyId }),
    signer: opts.signer,
  };
}

/** Why the certificate on disk cannot be used (undefined: it can), checked without the token. */
function unusableBecause(cert: NodeX509, req: CaCertificateRequest, now: number): string | undefined {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (Buffer.compare(spki, Buffer.from(req.spki)) !== 0) return 'it certifies a different key than the token holds';
  const subject = `CN=${caCommonName(req.bmcName)}`;
  if (cert.subject !== subject || cert.issuer !== subject) return `its subject is not "${subject}"`;
  if (!cert.ca) return 'it is not a CA certificate';
  if (!cert.verify(cert.publicKey)) return 'its self-signature does not verify';
  if (Date.parse(cert.validFrom) > now) return 'it is not valid yet';
  if (Date.parse(cert.validTo) - now < req.minRemainingMs) return 'it expires before a new leaf would';
  return undefined;
}

/**
 * Returns this BMC's CA from `self_ca.pem` when that certificate fits the token's key and this
 * BMC's name and stays valid long enough; otherwise signs a new self-signed one with the token
 * (same key) and writes it atomically (0644).
 */
export async function ensureCaCertificate(req: CaCertificateRequest): Promise<IssuingCa> {
  const now = Date.now();
  const tokenCrypto = new TokenCrypto(req.token);
  const signer: CertificateSigner = { crypto: tokenCrypto, key: tokenCrypto.caKey(req.spki) };
  let why = 'there is none';
  try {
    const pem = await readTextWithin(req.file, req.readTimeoutMs === undefined ? {} : { timeoutMs: req.readTimeoutMs });
    const cert = new NodeX509(pem);
    const problem = unusableBecause(cert, req, now);
    const ski = problem ? undefined : new X509Certificate(pem).getExtension(SubjectKeyIdentifierExtension)?.keyId;
    if (!problem && ski) {
      return issuingCa({
        pem: cert.toString(),
        der: new Uint8Array(cert.raw),
        spki: req.spki,
        notAfter: new Date(cert.validTo),
        bmcName: req.bmcName,
        keyId: new Uint8Array(Buffer.from(ski, 'hex')),
        signer,
      });
    }
    why = problem ?? 'it has no subjectKeyIdentifier';
  } catch (err) {
    // A read that did not finish says nothing about the certificate on disk. Signing a new one
    // (another fingerprint) would have the peers that attested this BMC see CA_CHANGED at their
    // next re-attestation: the issuance fails (TIMEOUT) and is retried instead.
    if (err instanceof TimeoutError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') why = `it cannot be read: ${errorMessage(err)}`;
  }

  const keyId = keyIdentifier(req.spki);
  const notBefore = new Date(Math.floor((now - CLOCK_SKEW_ALLOWANCE_MS) / 1000) * 1000);
  const notAfter = new Date(Math.floor((now + req.lifetimeDays * 86_400_000) / 1000) * 1000);
  const { der, pem } = await buildCertificate({
    profile: caProfile({ bmcName: req.bmcName, keyId }),
    fields: { serial: randomSerial(), notBefore, notAfter, spki: req.spki },
    signer,
  });
  await writeFileAtomic({ path: req.file, data: pem, mode: 0o644 });
  const ca = issuingCa({ pem, der, spki: req.spki, notAfter, bmcName: req.bmcName, keyId, signer });
  req.log.info(`wrote a new CA certificate ${req.file} (fingerprint ${ca.fingerprint}, key id ${hexOf(keyId)}) because ${why}`, {
    event: 'CA_CERTIFICATE_WRITTEN',
  });
  return ca;
}
