import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { certPaths } from '../../src/pki/certificate/index.ts';
import { mustRun, runTool } from './run-tool.ts';

/** What a checked self-provisioning left on disk, for comparisons across restarts. */
export interface SelfProvisioningFiles {
  /** SHA-256 fingerprint of self_ca.pem as openssl prints it. */
  readonly caFingerprint: string;
  readonly serverLeafFingerprint: string;
  readonly clientLeafFingerprint: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM file, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERT) ?? [];
}

/** True when all three contract files exist (a quick check before the full one). */
export function selfProvisioningFilesExist(certRoot: string): boolean {
  const p = certPaths(certRoot);
  return [p.selfCa, p.serverChain, p.clientChain].every((f) => existsSync(f));
}

async function fingerprint(pem: string): Promise<string> {
  const out = await mustRun('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem });
  return out.trim().replace(/^.*=/, '');
}

async function checkLeafChain(opts: { chainFile: string; caFile: string; caPem: string; name: string; purpose: 'sslserver' | 'sslclient' }): Promise<string> {
  const certs = pemCertificates(readFileSync(opts.chainFile, 'utf8'));
  assert.equal(certs.length, 2, `${opts.chainFile}: the leaf followed by the CA certificate`);
  const [leaf, ca] = certs;
  assert.ok(leaf && ca);
  assert.equal(ca.trim(), opts.caPem.trim(), `${opts.chainFile}: its second certificate is self_ca.pem`);
  const verify = await runTool(
    'openssl',
    ['verify', '-x509_strict', '-no-CAfile', '-no-CApath', '-no-CAstore', '-CAfile', opts.caFile, '-purpose', opts.purpose],
    { input: leaf },
  );
  assert.equal(verify.code, 0, `${opts.chainFile}: openssl verify -purpose ${opts.purpose}: ${verify.stdout}${verify.stderr}`);
  const san = await mustRun('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], { input: leaf });
  assert.match(san, new RegExp(`DNS:${opts.name.replace(/\./g, '\\.')}(,|\\s|$)`), `${opts.chainFile}: SAN names ${opts.name}`);
  return fingerprint(leaf);
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/**
 * Checks the files ProvisionPeer("self") must leave under cert_root (docs/security-model.md,
 * "What lives where"): self_ca.pem is a self-signed CA, both https/ chains are a leaf naming this BMC followed by that CA, verifying with
 * `openssl verify -x509_strict -purpose sslserver|sslclient`, and no private key is anywhere under cert_root.
 */
export async function checkSelfProvisioningFiles(opts: { certRoot: string; name: string }): Promise<SelfProvisioningFiles> {
  const p = certPaths(opts.certRoot);
  for (const f of [p.selfCa, p.serverChain, p.clientChain]) assert.ok(existsSync(f), `${f} exists`);
  const caPem = readFileSync(p.selfCa, 'utf8');
  assert.equal(pemCertificates(caPem).length, 1, 'self_ca.pem holds one certificate');
  const caText = await mustRun('openssl', ['x509', '-noout', '-ext', 'basicConstraints,keyUsage'], { input: caPem });
  assert.match(caText, /CA:TRUE/, 'self_ca.pem is a CA certificate');
  const selfSigned = await runTool('openssl', ['verify', '-x509_strict', '-no-CAfile', '-no-CApath', '-no-CAstore', '-CAfile', p.selfCa, p.selfCa]);
  assert.equal(selfSigned.code, 0, `self_ca.pem verifies against itself: ${selfSigned.stdout}${selfSigned.stderr}`);

  const common = { caFile: p.selfCa, caPem, name: opts.name };
  const serverLeafFingerprint = await checkLeafChain({ ...common, chainFile: p.serverChain, purpose: 'sslserver' });
  const clientLeafFingerprint = await checkLeafChain({ ...common, chainFile: p.clientChain, purpose: 'sslclient' });

  for (const f of filesUnder(opts.certRoot)) {
    assert.doesNotMatch(readFileSync(f, 'latin1'), /PRIVATE KEY/, `${f} holds no private key`);
  }
  return { caFingerprint: await fingerprint(caPem), serverLeafFingerprint, clientLeafFingerprint };
}
