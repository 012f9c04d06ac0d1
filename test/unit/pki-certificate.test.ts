/**
 * Known answers for the certificate profiles: a fixed CA key, fixed serials and times give fixed
 * certificates. ECDSA signatures are randomised (and Node offers no deterministic ECDSA), so the
 * answers pin the DER of each certificate up to its signature: the TBSCertificate byte for byte,
 * then the signature AlgorithmIdentifier, then a BIT STRING holding an ECDSA-Sig-Value that must
 * verify over that TBSCertificate under the fixed CA key. The pinned TBSCertificates are the ones
 * the earlier hand-assembled DER produced for the same inputs: the profiles did not change.
 *
 * The CA key is a test fixture in the real software token (a temp state_dir); `openssl verify
 * -x509_strict` checks every profile. The same profiles on SoftHSM2 and swtpm are checked by
 * test/integration/pki-issuer.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, verify, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildCertificate,
  caProfile,
  leafProfile,
  TokenCrypto,
  type BuiltCertificate,
  type CertificateFields,
  type CertificateProfile,
  type CertificateSigner,
} from '../../src/pki/issuance/index.ts';
import type { CaKeyToken } from '../../src/pki/token/ca-key-token.ts';
import { keyIdentifier } from '../../src/pki/token/ec-p256.ts';
import { SoftwareToken, softwareTokenPaths } from '../../src/pki/token/software-token.ts';
import { TokenError } from '../../src/pki/token/token-error.ts';
import { captureLog } from '../harness/capture-log.ts';
import { certificateDer, ECDSA_WITH_SHA256_HEX } from '../harness/certificate-der.ts';
import { runTool } from '../harness/run-tool.ts';

/** Test fixture CA key (P-256); not used anywhere else. */
const CA_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQge6U7TnbWTnRuN+BH
g5V0JqzzuNVVZroro0DnanIU3EGhRANCAATYLwerPU5IVDuHqxmT0H5KPIyRngmc
i2ymdexKwxzSxuqRqx0RLtLT4PcwAZxTAM3RE2Gjf3eZ0hN44WYBpAMZ
-----END PRIVATE KEY-----
`;
/** Test fixture leaf public key (SPKI DER, base64). */
const LEAF_SPKI = new Uint8Array(
  Buffer.from('MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2b+Dwew6KJzv9RWsrAv4YFtL3teh6k5CqxxivdT+lbINrOWSbfKirBcpdS5iUt8V7kgXR73uVZMMqRhTj6k1ow==', 'base64'),
);
const NAME = 'bmc-a.example';

const KAT = {
  ca: {
    fields: { serial: '0f1e2d3c4b5a69788796a5b4c3d2e1f0', notBefore: '2026-01-02T02:59:05Z', notAfter: '2036-01-01T03:04:05Z' },
    tbs:
      '3082015aa00302010202100f1e2d3c4b5a69788796a5b4c3d2e1f0300a06082a8648ce3d0403023028312630240603550403131d626d632d612e6578616d706c652050726f766973696f6e696e67204341301e170d3236303130323032353930355a170d3336303130313033303430355a3028312630240603550403131d626d632d612e6578616d706c652050726f766973696f6e696e672043413059301306072a8648ce3d020106082a8648ce3d03010703420004d82f07ab3d4e48543b87ab1993d07e4a3c8c919e099c8b6ca675ec4ac31cd2c6ea91ab1d112ed2d3e0f730019c5300cdd11361a37f7799d21378e16601a40319a366306430120603551d130101ff040830060101ff020100300e0603551d0f0101ff040403020106301f0603551d230418301680140d00b985112f51f8aad420053eefd8c80fcdf496301d0603551d0e041604140d00b985112f51f8aad420053eefd8c80fcdf496',
  },
  /** Validity across the UTCTime/GeneralizedTime switch; notBefore has milliseconds, which are dropped. */
  ca2050: {
    fields: { serial: '7fffffffffffffffffffffffffffff01', notBefore: '2049-12-31T23:59:59.900Z', notAfter: '2050-01-01T00:00:00Z' },
    tbs:
      '3082015ca00302010202107fffffffffffffffffffffffffffff01300a06082a8648ce3d0403023028312630240603550403131d626d632d612e6578616d706c652050726f766973696f6e696e672043413020170d3439313233313233353935395a180f32303530303130313030303030305a3028312630240603550403131d626d632d612e6578616d706c652050726f766973696f6e696e672043413059301306072a8648ce3d020106082a8648ce3d03010703420004d82f07ab3d4e48543b87ab1993d07e4a3c8c919e099c8b6ca675ec4ac31cd2c6ea91ab1d112ed2d3e0f730019c5300cdd11361a37f7799d21378e16601a40319a366306430120603551d130101ff040830060101ff020100300e0603551d0f0101ff040403020106301f0603551d230418301680140d00b985112f51f8aad420053eefd8c80fcdf496301d0603551d0e041604140d00b985112f51f8aad420053eefd8c80fcdf496',
  },
  leaf: {
    fields: { serial: '0123456789abcdef0123456789abcdef', notBefore: '2026-01-02T03:00:05Z', notAfter: '2026-01-03T03:04:05Z' },
    tbs:
      '3082017fa00302010202100123456789abcdef0123456789abcdef300a06082a8648ce3d0403023028312630240603550403131d626d632d612e6578616d706c652050726f766973696f6e696e67204341301e170d3236303130323033303030355a170d3236303130333033303430355a3018311630140603550403130d626d632d612e6578616d706c653059301306072a8648ce3d020106082a8648ce3d03010703420004d9bf83c1ec3a289ceff515acac0bf8605b4bded7a1ea4e42ab1c62bdd4fe95b20dace5926df2a2ac1729752e6252df15ee481747bdee55930ca918538fa935a3a3819a308197300c0603551d130101ff04023000300e0603551d0f0101ff040403020780301d0603551d250416301406082b0601050507030106082b0601050507030230180603551d110411300f820d626d632d612e6578616d706c65301f0603551d230418301680140d00b985112f51f8aad420053eefd8c80fcdf496301d0603551d0e04160414b4390a39f08b37791b5f619039e17bc17894a48d',
  },
  /** A short serial with leading zero octets and its top bit set: minimal, positive INTEGER 0x00f0. */
  leafShortSerial: {
    fields: { serial: '0000f0', notBefore: '2026-01-02T03:00:05Z', notAfter: '2026-01-03T03:04:05Z' },
    tbs:
      '30820171a003020102020200f0300a06082a8648ce3d0403023028312630240603550403131d626d632d612e6578616d706c652050726f766973696f6e696e67204341301e170d3236303130323033303030355a170d3236303130333033303430355a3018311630140603550403130d626d632d612e6578616d706c653059301306072a8648ce3d020106082a8648ce3d03010703420004d9bf83c1ec3a289ceff515acac0bf8605b4bded7a1ea4e42ab1c62bdd4fe95b20dace5926df2a2ac1729752e6252df15ee481747bdee55930ca918538fa935a3a3819a308197300c0603551d130101ff04023000300e0603551d0f0101ff040403020780301d0603551d250416301406082b0601050507030106082b0601050507030230180603551d110411300f820d626d632d612e6578616d706c65301f0603551d230418301680140d00b985112f51f8aad420053eefd8c80fcdf496301d0603551d0e04160414b4390a39f08b37791b5f619039e17bc17894a48d',
  },
} as const;

/** 2026-01-02T12:00:00Z, inside every fixed validity except ca2050's, for `openssl verify -attime`. */
const AT_2026 = '1767355200';
/** 2049-12-31T23:59:59Z, inside ca2050's one-second validity. */
const AT_2049 = '2524607999';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

async function opensslVerify(opts: { caFile: string; certPem: string; attime: string; purpose?: 'sslserver' | 'sslclient' }): Promise<void> {
  const args = ['verify', '-x509_strict', '-no-CAfile', '-no-CApath', '-no-CAstore', '-CAfile', opts.caFile, '-attime', opts.attime];
  if (opts.purpose) args.push('-purpose', opts.purpose);
  const r = await runTool('openssl', args, { input: opts.certPem });
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
}

/** The real software token holding the fixture key, with every signed input recorded. */
class RecordingToken implements CaKeyToken {
  readonly description = 'software token with the fixture CA key';
  readonly signed: Uint8Array[] = [];
  readonly #inner: SoftwareToken;
  constructor(inner: SoftwareToken) {
    this.#inner = inner;
  }
  caPublicKey(opts: { readonly create: boolean }) {
    return this.#inner.caPublicKey(opts);
  }
  sign(data: Uint8Array): Promise<Uint8Array> {
    this.signed.push(data);
    return this.#inner.sign(data);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

describe('certificates built with @peculiar/x509 and signed through the token-backed WebCrypto', () => {
  let work: string;
  let token: RecordingToken;
  let signer: CertificateSigner;
  let caSpki: Uint8Array;
  let ca: CertificateProfile;
  let leaf: CertificateProfile;
  const caPublicKey = createPublicKey(createPrivateKey(CA_KEY_PEM));
  const fields = (f: { serial: string; notBefore: string; notAfter: string }, spki: Uint8Array): CertificateFields => ({
    serial: bytes(f.serial),
    notBefore: new Date(f.notBefore),
    notAfter: new Date(f.notAfter),
    spki,
  });
  const file = (name: string, text: string): string => {
    const path = join(work, name);
    writeFileSync(path, text);
    return path;
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pki-certificate-'));
    const paths = softwareTokenPaths(join(work, 'state'));
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    writeFileSync(paths.keyFile, CA_KEY_PEM, { mode: 0o600 });
    token = new RecordingToken(new SoftwareToken({ stateDir: join(work, 'state'), timeoutMs: 10_000, log: captureLog().log }));
    caSpki = (await token.caPublicKey({ create: false })).spki;
    const crypto = new TokenCrypto(token);
    signer = { crypto, key: crypto.caKey(caSpki) };
    const keyId = keyIdentifier(caSpki);
    ca = caProfile({ bmcName: NAME, keyId });
    leaf = leafProfile({ bmcName: NAME, caKeyId: keyId });
  }, { timeout: 60_000 });

  after(async () => {
    await token.close();
    rmSync(work, { recursive: true, force: true });
  }, { timeout: 60_000 });

  /** Builds one known-answer certificate and checks it against its pinned TBSCertificate. */
  async function known(kat: (typeof KAT)[keyof typeof KAT], profile: CertificateProfile, spki: Uint8Array): Promise<BuiltCertificate> {
    token.signed.length = 0;
    const cert = await buildCertificate({ profile, fields: fields(kat.fields, spki), signer });
    const parts = certificateDer(cert.der);
    assert.equal(hex(parts.tbs), kat.tbs, 'TBSCertificate');
    assert.equal(hex(parts.signatureAlgorithm), ECDSA_WITH_SHA256_HEX, 'signatureAlgorithm');
    assert.deepEqual(token.signed.map(hex), [kat.tbs], 'the token signed exactly the TBSCertificate, once');
    assert.ok(verify('sha256', parts.tbs, { key: caPublicKey, dsaEncoding: 'der' }, parts.signature), 'the signature verifies under the CA key');
    assert.equal(new X509Certificate(cert.pem).raw.toString('hex'), hex(cert.der), 'the PEM holds the DER');
    return cert;
  }

  it('CA profile: fixed key, serial and time give the pinned certificate; openssl verify -x509_strict accepts it', async () => {
    const cert = await known(KAT.ca, ca, caSpki);
    const caFile = file('ca.pem', cert.pem);
    await opensslVerify({ caFile, certPem: cert.pem, attime: AT_2026 });
  });

  it('CA profile across 2050: UTCTime through 2049, GeneralizedTime from 2050, whole seconds', async () => {
    const cert = await known(KAT.ca2050, ca, caSpki);
    assert.ok(KAT.ca2050.tbs.includes(`170d${Buffer.from('491231235959Z').toString('hex')}`), 'notBefore UTCTime, milliseconds dropped');
    assert.ok(KAT.ca2050.tbs.includes(`180f${Buffer.from('20500101000000Z').toString('hex')}`), 'notAfter GeneralizedTime');
    await opensslVerify({ caFile: file('ca2050.pem', cert.pem), certPem: cert.pem, attime: AT_2049 });
  });

  it('leaf profile: the pinned certificate, which openssl verify -x509_strict accepts for sslserver and sslclient', async () => {
    const caFile = file('ca-for-leaf.pem', (await known(KAT.ca, ca, caSpki)).pem);
    for (const kat of [KAT.leaf, KAT.leafShortSerial]) {
      const cert = await known(kat, leaf, LEAF_SPKI);
      for (const purpose of ['sslserver', 'sslclient'] as const) await opensslVerify({ caFile, certPem: cert.pem, attime: AT_2026, purpose });
      const text = (await runTool('openssl', ['x509', '-noout', '-text'], { input: cert.pem })).stdout;
      assert.match(text, /DNS:bmc-a\.example/);
      assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    }
  });

  it('serials are minimal positive INTEGERs of at most 20 octets; zero, empty and longer serials are refused before the token signs', async () => {
    const at = (serial: string) => ({ serial, notBefore: KAT.leaf.fields.notBefore, notAfter: KAT.leaf.fields.notAfter });
    const longest = `7f${'ff'.repeat(19)}`;
    for (const [serial, encoded] of [['7f', '02017f'], ['80', '02020080'], ['000012', '020112'], [`00${longest}`, `0214${longest}`]] as const) {
      const cert = await buildCertificate({ profile: leaf, fields: fields(at(serial), LEAF_SPKI), signer });
      assert.equal(hex(certificateDer(cert.der).serial), encoded, `serial ${serial}`);
    }
    token.signed.length = 0;
    for (const serial of ['', '00', '0000', '01'.repeat(21), `80${'00'.repeat(19)}`]) {
      await assert.rejects(buildCertificate({ profile: leaf, fields: fields(at(serial), LEAF_SPKI), signer }), RangeError, `serial "${serial}"`);
    }
    assert.equal(token.signed.length, 0, 'nothing was signed');
  });

  it('refuses times before 1950 and a notAfter before notBefore, before the token signs', async () => {
    token.signed.length = 0;
    const bad = [
      { serial: '01', notBefore: '1949-12-31T23:59:59Z', notAfter: '2026-01-01T00:00:00Z' },
      { serial: '01', notBefore: '2026-01-02T00:00:00Z', notAfter: '2026-01-01T00:00:00Z' },
    ];
    for (const f of bad) await assert.rejects(buildCertificate({ profile: leaf, fields: fields(f, LEAF_SPKI), signer }), RangeError);
    assert.equal(token.signed.length, 0);
  });

  it("turns the token's r||s into a DER ECDSA-Sig-Value that verifies, for many signatures (both r/s high-bit cases)", async () => {
    const caCert = new X509Certificate((await known(KAT.ca, ca, caSpki)).pem);
    for (let i = 0; i < 24; i++) {
      const cert = await buildCertificate({ profile: leaf, fields: fields(KAT.leaf.fields, LEAF_SPKI), signer });
      assert.ok(new X509Certificate(cert.der).verify(caCert.publicKey), `certificate ${i} verifies`);
    }
  });

  it('armours the DER as PEM with 64-character lines and a final newline', async () => {
    const cert = await buildCertificate({ profile: leaf, fields: fields(KAT.leaf.fields, LEAF_SPKI), signer });
    const lines = cert.pem.split('\n');
    assert.equal(lines[0], '-----BEGIN CERTIFICATE-----');
    assert.equal(lines.at(-2), '-----END CERTIFICATE-----');
    assert.equal(lines.at(-1), '', 'ends with a newline');
    assert.ok(lines.slice(1, -2).every((l) => l.length <= 64 && l.length > 0));
  });
});

describe('the token-backed WebCrypto', () => {
  const SHA256: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
  const SHA384: EcdsaParams = { name: 'ECDSA', hash: 'SHA-384' };
  const { privateKey, publicKey } = { privateKey: createPrivateKey(CA_KEY_PEM), publicKey: createPublicKey(createPrivateKey(CA_KEY_PEM)) };
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const fixedToken = (sign: (data: Uint8Array) => Promise<Uint8Array>): CaKeyToken => ({
    description: 'test token',
    caPublicKey: async () => ({ spki, created: false }),
    sign,
    close: async () => undefined,
  });
  let work: string;
  let software: SoftwareToken;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pki-token-crypto-'));
    const paths = softwareTokenPaths(work);
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    writeFileSync(paths.keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    software = new SoftwareToken({ stateDir: work, timeoutMs: 10_000, log: captureLog().log });
  }, { timeout: 60_000 });
  after(async () => {
    await software.close();
    rmSync(work, { recursive: true, force: true });
  }, { timeout: 60_000 });

  it("subtle.sign(ECDSA, SHA-256) returns the token's 64-byte r||s, verifying under the CA key", async () => {
    const crypto = new TokenCrypto(software);
    const data = Buffer.from('to be signed');
    const sig = new Uint8Array(await crypto.subtle.sign(SHA256, crypto.caKey(spki), data));
    assert.equal(sig.length, 64);
    assert.ok(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
  });

  it('refuses other hashes, keys of another token, and every ECDSA operation but signing', async () => {
    const crypto = new TokenCrypto(software);
    const key = crypto.caKey(spki);
    const data = Buffer.from('x');
    await assert.rejects(crypto.subtle.sign(SHA384, key, data));
    const other = new TokenCrypto(fixedToken(async () => new Uint8Array(64)));
    await assert.rejects(crypto.subtle.sign(SHA256, other.caKey(spki), data), /not the CA key/);
    await assert.rejects(crypto.subtle.exportKey('pkcs8', key));
    await assert.rejects(crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']));
    assert.throws(() => crypto.caKey(new Uint8Array(createPublicKey(createPrivateKey(CA_KEY_PEM)).export({ type: 'spki', format: 'der' })).subarray(1)));
  });

  it("everything but ECDSA is @peculiar/webcrypto's own: digests and randomness work, and no CA key is needed for them", async () => {
    const crypto = new TokenCrypto(fixedToken(async () => assert.fail('a digest must not reach the token')));
    const data = Buffer.from('measured');
    assert.deepEqual(Buffer.from(await crypto.subtle.digest('SHA-256', data)), createHash('sha256').update(data).digest());
    assert.deepEqual(Buffer.from(await crypto.subtle.digest('SHA-384', data)), createHash('sha384').update(data).digest());
    const random = crypto.getRandomValues(new Uint8Array(32));
    assert.notDeepEqual(random, new Uint8Array(32));
  });

  it('a token whose signature does not verify under the CA key yields no certificate (TokenError FAILED)', async () => {
    const crypto = new TokenCrypto(fixedToken(async () => new Uint8Array(64).fill(7)));
    const caKeyId = keyIdentifier(spki);
    await assert.rejects(
      buildCertificate({
        profile: leafProfile({ bmcName: NAME, caKeyId }),
        fields: { serial: bytes('01'), notBefore: new Date(KAT.leaf.fields.notBefore), notAfter: new Date(KAT.leaf.fields.notAfter), spki: LEAF_SPKI },
        signer: { crypto, key: crypto.caKey(spki) },
      }),
      (err: unknown) => err instanceof TokenError && err.code === 'FAILED' && /does not verify/.test(err.message),
    );
  });
});
