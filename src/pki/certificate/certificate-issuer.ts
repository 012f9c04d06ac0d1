import type { IssueRequest, IssueSummary } from '../../../machines/events.ts';
import type { Config } from '../../config/schema.ts';
import type { Logger } from '../../log.ts';
import { writeFileAtomic } from '../../util/atomic-file.ts';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../../clock/skew-allowance.ts';
import type { IssuingCa } from '../issuance/index.ts';
import { certPaths } from './cert-paths.ts';
import { SerialQueue } from '../../util/serial-queue.ts';
import type { CredentialHolder, TlsCredentials } from './tls-credentials.ts';
import { type CaKeyToken, checkTokenAtStart, createCaKeyToken, TokenError } from '../token/index.ts';
import { errorMessage } from '../../util/error-message.ts';
import { TimeoutError } from '../../util/with-timeout.ts';
import { lazyPart } from '../../util/lazy-part.ts';

/** What the statechart's issueCertificates actor calls: the token CA issuing this BMC's TLS leaves. */
export interface CertificateIssuer {
  /**
   * 'provision': find or create the CA key, (re)write self_ca.pem if needed, issue leaves.
   * 'boot': the CA key must exist (CA_KEY_MISSING otherwise), issue leaves. 'renew': issue leaves.
   * Rejects with TokenError for every token failure; never leaves partial files.
   */
  issue(req: IssueRequest): Promise<IssueSummary>;
  /** Closes the token (sessions, module). */
  close(): Promise<void>;
}

/** What the issuer is built from; `token` replaces the configured one (tests, benchmarks). */
export interface CertificateIssuerDeps {
  readonly config: Config;
  readonly credentials: CredentialHolder;
  readonly log: Logger;
  readonly token?: CaKeyToken;
}

/**
 * Builds the issuer. Throws TokenError PIN_FILE_INSECURE / PIN_FILE_UNREADABLE synchronously when a
 * PKCS#11 token is configured and its pin_file is unusable (the caller exits 78). Opens nothing
 * else: the module is loaded on the first issue(), so a missing module or a wrong PIN surfaces
 * there (as ProvisionPeer("self") failing), not at start.
 */
export function createCertificateIssuer(deps: CertificateIssuerDeps): CertificateIssuer {
  if (deps.config.token) checkTokenAtStart(deps.config.token);
  return new TokenCertificateIssuer(deps, deps.token ?? createCaKeyToken(deps));
}

/**
 * The X.509 builder, loaded on the first issuance (a daemon that is not provisioned never loads it;
 * one that is loads it once up, after its bus name is owned).
 */
const loadIssuance = lazyPart(() => import('../issuance/index.ts'));

/**
 * One leaf key pair and certificate serve both TLS roles (EKU serverAuth + clientAuth): both keys
 * would live in this same process's memory, so two pairs add no isolation, and one pair halves the
 * token signatures per issuance (a discrete TPM is slow).
 */
class TokenCertificateIssuer implements CertificateIssuer {
  #deps: CertificateIssuerDeps;
  #token: CaKeyToken;
  #ca: IssuingCa | undefined;
  #caQueue = new SerialQueue();
  #commitQueue = new SerialQueue();

  constructor(deps: CertificateIssuerDeps, token: CaKeyToken) {
    this.#deps = deps;
    this.#token = token;
  }

  async issue(req: IssueRequest): Promise<IssueSummary> {
    const { log, config } = this.#deps;
    try {
      const ca = await this.#caQueue.run(() => this.#ensureCa(req));
      const { issueLeaf } = await loadIssuance();
      const leaf = await issueLeaf({ ca, lifetimeMs: config.leaf_lifetime * 1000 });
      return await this.#commitQueue.run(async () => {
        const paths = certPaths(config.cert_root);
        const chain = leaf.certPem + ca.pem;
        await Promise.all([
          writeFileAtomic({ path: paths.serverChain, data: chain, mode: 0o644 }),
          writeFileAtomic({ path: paths.clientChain, data: chain, mode: 0o644 }),
        ]);
        const creds: TlsCredentials = { keyPem: leaf.keyPem, certChainPem: chain, caPem: ca.pem, notAfter: leaf.notAfter };
        const issued = this.#deps.credentials.set({ server: creds, client: creds });
        log.info(`issued leaf certificates for ${config.name}, valid until ${leaf.notAfter.toISOString()}`, {
          event: 'CERTIFICATES_ISSUED',
          reason: req.reason,
        });
        return {
          caFingerprint: ca.fingerprint,
          leafNotBefore: leaf.notBefore.getTime(),
          leafNotAfter: leaf.notAfter.getTime(),
          leafLifetimeMs: config.leaf_lifetime * 1000,
          generation: issued.generation,
        };
      });
    } catch (err) {
      const code = err instanceof TokenError || err instanceof TimeoutError ? { code: err.code } : {};
      log.error(`issuing certificates failed: ${errorMessage(err)}`, { ...code, reason: req.reason });
      throw err;
    }
  }

  close(): Promise<void> {
    return this.#token.close();
  }

  /** The CA to issue with; 'renew' reuses the one already checked while it stays valid. */
  async #ensureCa(req: IssueRequest): Promise<IssuingCa> {
    const { config, log } = this.#deps;
    const minRemainingMs = config.leaf_lifetime * 1000 + CLOCK_SKEW_ALLOWANCE_MS;
    const cached = this.#ca;
    if (req.reason === 'renew' && cached && cached.notAfter.getTime() - Date.now() >= minRemainingMs) return cached;
    const key = await this.#token.caPublicKey({ create: req.reason === 'provision' });
    const { ensureCaCertificate } = await loadIssuance();
    this.#ca = await ensureCaCertificate({
      token: this.#token,
      spki: key.spki,
      bmcName: config.name,
      lifetimeDays: config.ca_lifetime_days,
      minRemainingMs,
      file: certPaths(config.cert_root).selfCa,
      log,
    });
    return this.#ca;
  }
}
