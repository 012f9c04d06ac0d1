import 'reflect-metadata';
import { createPrivateKey, KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** A test device identity for SPDM: root → intermediate → device leaf, and the leaf's key. */
export interface SpdmTestIdentity {
  /** DER, root first, leaf last. */
  readonly chain: Uint8Array[];
  readonly rootDer: Uint8Array;
  /** PEM bundle of the chain (root first), as the CLI reads it. */
  readonly chainPem: string;
  readonly rootPem: string;
  /** The leaf's private key (absent when the leaf certifies a given public key, e.g. a token's). */
  readonly leafKey?: KeyObject;
  readonly leafKeyPem?: string;
}

/** Curve of the chain. */
export type TestCurve = 'P-256' | 'P-384';

const HASH: Record<TestCurve, string> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384' };

/**
 * Builds a fresh chain on `curve`. With `leafSpki` (DER SubjectPublicKeyInfo, e.g. from a token)
 * the leaf certifies that key instead of a generated one; `name` is its CN, `dnsName` a
 * subjectAltName dNSName (the BMC name attestationd's `identity_name: "match"` checks).
 */
export async function createSpdmTestIdentity(o: { curve: TestCurve; leafSpki?: Uint8Array; name?: string; dnsName?: string }): Promise<SpdmTestIdentity> {
  const alg = { name: 'ECDSA', namedCurve: o.curve, hash: HASH[o.curve] };
  const subtle = webcrypto.subtle;
  const gen = () => subtle.generateKey(alg, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
  const now = Date.now();
  const notBefore = new Date(now - 60_000);
  const notAfter = new Date(now + 24 * 3600_000);
  const rootKeys = await gen();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=SPDM Test Root ${o.curve}`,
    notBefore,
    notAfter,
    keys: rootKeys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const interKeys = await gen();
  const inter = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: `CN=SPDM Test Intermediate ${o.curve}`,
    issuer: root.subject,
    notBefore,
    notAfter,
    publicKey: interKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  let leafPublic: CryptoKey;
  let leafKey: KeyObject | undefined;
  if (o.leafSpki) {
    leafPublic = await subtle.importKey('spki', o.leafSpki, { name: 'ECDSA', namedCurve: o.curve }, true, ['verify']);
  } else {
    const leafKeys = await gen();
    leafPublic = leafKeys.publicKey;
    leafKey = KeyObject.from(leafKeys.privateKey);
  }
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '03',
    subject: `CN=${o.name ?? 'spdm-test-device'}`,
    issuer: inter.subject,
    notBefore,
    notAfter,
    publicKey: leafPublic,
    signingKey: interKeys.privateKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ...(o.dnsName ? [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: o.dnsName }])] : []),
    ],
  });
  const certs = [root, inter, leaf];
  const leafKeyPem = leafKey ? leafKey.export({ type: 'pkcs8', format: 'pem' }).toString() : undefined;
  return {
    chain: certs.map((c) => new Uint8Array(c.rawData)),
    rootDer: new Uint8Array(root.rawData),
    chainPem: `${certs.map((c) => c.toString('pem')).join('\n')}\n`,
    rootPem: `${root.toString('pem')}\n`,
    ...(leafKey ? { leafKey: createPrivateKey(leafKeyPem ?? ''), leafKeyPem } : {}),
  };
}
