import { createPublicKey, X509Certificate } from 'node:crypto';
import type { Logger } from '../log.ts';
import { pemCertificates } from '../pki/certificate/index.ts';
import { type CaKeyToken, Pkcs11Token, SoftwareToken } from '../pki/token/index.ts';
import { CodedError } from '../util/coded-error.ts';
import type { AttestationConfig } from './config-schema.ts';
import { errorMessage } from '../util/error-message.ts';
import { readTextWithin } from '../util/read-file-within.ts';
import { TimeoutError } from '../util/with-timeout.ts';

/** Why this BMC cannot answer attestation requests: the identity key or its chain is unusable. */
export class IdentityError extends CodedError<
  'IDENTITY_KEY_MISSING' | 'IDENTITY_CHAIN_INVALID' | 'IDENTITY_CHAIN_TIMEOUT' | 'IDENTITY_KEY_MISMATCH' | 'IDENTITY_TOKEN'
> {
  override readonly name = 'IdentityError';
}

/** Signs SPDM signing-context messages with the device identity key (the shape of src/spdm's SpdmSigner). */
export interface IdentitySigner {
  readonly algorithm: 'ECDSA_P256_SHA256';
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** This BMC's attestation identity: the key on the token and the certificate chain that names it. */
export interface DeviceIdentity {
  readonly signer: IdentitySigner;
  /** DER, root first, device leaf last (SPDM slot 0). */
  readonly chain: Uint8Array[];
  /** One line for the log: the leaf's subject and the token. */
  readonly description: string;
  close(): Promise<void>;
}

/**
 * The token holding the identity key: `identity_token` (PKCS#11, key label default
 * `attestation-identity`) or, when absent, the software token under attestationd's own `state_dir`.
 * The same adapter provisioningd uses for its CA key, opened by this process for itself.
 */
export function openIdentityToken(config: AttestationConfig, log: Logger): CaKeyToken {
  const timeoutMs = Math.round(config.token_timeout * 1000);
  if (config.identity_token) return new Pkcs11Token({ token: config.identity_token, timeoutMs, log });
  return new SoftwareToken({ stateDir: config.state_dir, timeoutMs, log });
}

/** What readCertificates() calls this BMC's own chain. */
const IDENTITY_CHAIN = 'identity chain';
/** The hint for a fresh install, which has neither identity key nor chain (exit 78 until then). */
const NO_IDENTITY_YET = 'this BMC has no identity yet; create and certify it as docs/attestation.md, "The identity", says';

/** Reads a PEM file of certificates (in file order), within FILE_READ_TIMEOUT_MS; throws with `what` in the message. */
export async function readCertificates(file: string, what: string): Promise<X509Certificate[]> {
  let text: string;
  try {
    text = await readTextWithin(file);
  } catch (err) {
    // A disk that hangs says nothing about the file: not INVALID (which needs the operator), it may pass.
    if (err instanceof TimeoutError) throw new IdentityError('IDENTITY_CHAIN_TIMEOUT', `${what} ${file}: ${err.message}`);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new IdentityError('IDENTITY_CHAIN_INVALID', `${what} ${file} does not exist${what === IDENTITY_CHAIN ? `: ${NO_IDENTITY_YET}` : ''}`);
    }
    throw new IdentityError('IDENTITY_CHAIN_INVALID', `${what} ${file}: ${errorMessage(err)}`);
  }
  let blocks: Uint8Array[];
  try {
    blocks = pemCertificates(text);
  } catch (err) {
    throw new IdentityError('IDENTITY_CHAIN_INVALID', `${what} ${file}: a PEM block is not valid base64: ${errorMessage(err)}`);
  }
  if (!blocks.length) throw new IdentityError('IDENTITY_CHAIN_INVALID', `${what} ${file}: no PEM certificate in it`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new IdentityError('IDENTITY_CHAIN_INVALID', `${what} ${file}: certificate ${i + 1} is not valid X.509: ${errorMessage(err)}`);
    }
  });
}

/** Checks that each certificate is issued and signed by the one before it, the first one by itself. */
function checkChainOrder(chain: readonly X509Certificate[], file: string): void {
  chain.forEach((cert, i) => {
    const issuer = chain[i - 1] ?? cert;
    const ok = cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
    if (!ok) {
      throw new IdentityError(
        'IDENTITY_CHAIN_INVALID',
        `identity chain ${file}: certificate ${i + 1} ("${cert.subject.replace(/\n/g, ', ')}") is not signed by ${i === 0 ? 'itself (the root must come first)' : `certificate ${i}`}`,
      );
    }
  });
}

/**
 * Loads the identity chain (root first, device leaf last), finds the identity key on the token
 * (never creates it) and checks that the leaf certifies that very key.
 */
export async function loadDeviceIdentity(config: AttestationConfig, log: Logger): Promise<DeviceIdentity> {
  const chain = await readCertificates(config.identity_chain, IDENTITY_CHAIN);
  checkChainOrder(chain, config.identity_chain);
  const leaf = chain[chain.length - 1];
  if (!leaf) throw new IdentityError('IDENTITY_CHAIN_INVALID', `identity chain ${config.identity_chain} is empty`);
  const token = openIdentityToken(config, log);
  let spki: Uint8Array;
  try {
    spki = (await token.caPublicKey({ create: false })).spki;
  } catch (err) {
    await token.close().catch(() => undefined);
    const code = (err as { code?: unknown }).code;
    if (code === 'CA_KEY_MISSING') {
      throw new IdentityError('IDENTITY_KEY_MISSING', `no identity key on ${token.description}: create it with attestationd --create-identity-key`);
    }
    throw new IdentityError('IDENTITY_TOKEN', `identity key on ${token.description}: ${errorMessage(err)}`);
  }
  const leafSpki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  const tokenSpki = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
  if (!leafSpki.equals(tokenSpki)) {
    await token.close().catch(() => undefined);
    throw new IdentityError(
      'IDENTITY_KEY_MISMATCH',
      `identity chain ${config.identity_chain}: the device certificate certifies another key than the one on ${token.description}`,
    );
  }
  return {
    signer: { algorithm: 'ECDSA_P256_SHA256', sign: (message) => token.sign(message) },
    chain: chain.map((c) => new Uint8Array(c.raw)),
    description: `"${leaf.subject.replace(/\n/g, ', ')}" on ${token.description}`,
    close: () => token.close(),
  };
}
