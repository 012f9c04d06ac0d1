/**
 * Test certificates for the peer-link tests, made with the openssl tool under a temp dir: two BMC
 * identities plus the bad leaves the refusal tests need (expired, wrong EKU, untrusted CA, …).
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { CredentialHolder, type IssuedCredentials, type TlsCredentials } from '../../src/pki/certificate/index.ts';
import { TrustStore, type TrustedCa } from '../../src/pki/trust/index.ts';
import { makeTestCa, type TestCa } from './openssl-test-ca.ts';
import { mustRun } from './run-tool.ts';

export type { TestCa };

/** A test leaf: key and certificate as PEM text and files, plus the chain (leaf + CA). */
export interface TestLeaf {
  readonly keyPem: string;
  readonly certPem: string;
  readonly chainPem: string;
  readonly notAfter: Date;
  readonly keyFile: string;
  readonly certFile: string;
  readonly chainFile: string;
}

/** Which extended key usages a leaf carries. */
export type TestEku = 'serverAuth' | 'clientAuth';

/** What a leaf should look like; the defaults give a leaf valid from yesterday to tomorrow. */
export interface LeafSpec {
  readonly dir: string;
  readonly ca: TestCa;
  /** File stem under `dir`. */
  readonly stem: string;
  readonly commonName: string;
  /** DNS subjectAltName; absent means no SAN extension at all. */
  readonly dnsName?: string;
  /** Extended key usages; empty means no EKU extension at all. */
  readonly eku: readonly TestEku[];
  /** Validity as offsets from now in days (negative = past). */
  readonly validFromDays?: number;
  readonly validToDays?: number;
}

const DAY_MS = 86_400_000;

/** openssl `ca` date syntax, YYYYMMDDHHMMSSZ. */
function caDate(offsetDays: number): string {
  return `${new Date(Date.now() + offsetDays * DAY_MS).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/**
 * Issues a leaf with `openssl ca` (which, unlike `x509 -req` in OpenSSL 3.0, takes explicit start
 * and end dates, so expired leaves are possible). Each leaf gets its own tiny CA database.
 */
export async function issueTestLeaf(spec: LeafSpec): Promise<TestLeaf> {
  const base = join(spec.dir, spec.stem);
  const db = `${base}.db`;
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), `${randomBytes(8).toString('hex')}\n`);
  writeFileSync(
    `${base}.cnf`,
    [
      '[ca]',
      'default_ca = test_ca',
      '[test_ca]',
      `database = ${join(db, 'index.txt')}`,
      `new_certs_dir = ${db}`,
      `serial = ${join(db, 'serial')}`,
      'default_md = sha256',
      'policy = any_name',
      'unique_subject = no',
      '[any_name]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  const ext = [
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature',
    ...(spec.eku.length ? [`extendedKeyUsage = ${spec.eku.join(',')}`] : []),
    'authorityKeyIdentifier = keyid',
    ...(spec.dnsName === undefined ? [] : [`subjectAltName = DNS:${spec.dnsName}`]),
    '',
  ];
  writeFileSync(`${base}.ext`, ext.join('\n'));
  const keyFile = `${base}.key`;
  const certFile = `${base}.crt`;
  await mustRun('openssl', [
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', `${base}.csr`, '-subj', `/CN=${spec.commonName}`,
  ]);
  const validTo = spec.validToDays ?? 1;
  await mustRun('openssl', [
    'ca', '-batch', '-config', `${base}.cnf`, '-cert', spec.ca.certFile, '-keyfile', spec.ca.keyFile,
    '-in', `${base}.csr`, '-out', certFile, '-notext', '-extfile', `${base}.ext`,
    '-startdate', caDate(spec.validFromDays ?? -1), '-enddate', caDate(validTo),
  ]);
  const keyPem = readFileSync(keyFile, 'utf8');
  const certPem = readFileSync(certFile, 'utf8');
  const chainPem = certPem + spec.ca.pem;
  const chainFile = `${base}.chain.pem`;
  writeFileSync(chainFile, chainPem);
  return { keyPem, certPem, chainPem, notAfter: new Date(Date.now() + validTo * DAY_MS), keyFile, certFile, chainFile };
}

/** One BMC's test identity: its CA and its server and client leaves, all naming `name`. */
export interface TestBmc {
  readonly name: string;
  readonly ca: TestCa;
  readonly server: TestLeaf;
  readonly client: TestLeaf;
}

/** Makes a BMC identity: a CA plus a serverAuth and a clientAuth leaf with DNS SAN `name`. */
export async function createTestBmc(dir: string, name: string): Promise<TestBmc> {
  const ca = await makeTestCa({ dir, stem: `${name}-ca`, subject: `/CN=${name} Provisioning CA` });
  const [server, client] = await Promise.all([
    issueTestLeaf({ dir, ca, stem: `${name}-server`, commonName: name, dnsName: name, eku: ['serverAuth'] }),
    issueTestLeaf({ dir, ca, stem: `${name}-client`, commonName: name, dnsName: name, eku: ['clientAuth'] }),
  ]);
  return { name, ca, server, client };
}

function tlsCredentials(leaf: TestLeaf, ca: TestCa): TlsCredentials {
  return { keyPem: leaf.keyPem, certChainPem: leaf.chainPem, caPem: ca.pem, notAfter: leaf.notAfter };
}

/** The CredentialHolder payload for a test BMC, as the issuer would `set()` it. */
export function credentialsOf(bmc: TestBmc): Omit<IssuedCredentials, 'generation'> {
  return { server: tlsCredentials(bmc.server, bmc.ca), client: tlsCredentials(bmc.client, bmc.ca) };
}

/** A CredentialHolder already holding `bmc`'s leaves, as after its first issuance. */
export function holderOf(bmc: TestBmc): CredentialHolder {
  const holder = new CredentialHolder();
  holder.set(credentialsOf(bmc));
  return holder;
}

/** The trust stores of a healthy pair, under `pki.dir`: bmc-a's trusts bmc-b's CA and the other way round. */
export interface CrossTrust {
  readonly a: TrustStore;
  readonly b: TrustStore;
  /** bmc-b's CA as bmc-a's store holds it (its fingerprint removes it again). */
  readonly bInA: TrustedCa;
}

/** Makes the two trust stores of a healthy bmc-a / bmc-b pair. */
export async function crossTrust(pki: TestPki): Promise<CrossTrust> {
  const a = new TrustStore({ dir: join(pki.dir, 'a-authority') });
  const bInA = await a.add(pki.b.ca.pem);
  const b = new TrustStore({ dir: join(pki.dir, 'b-authority') });
  await b.add(pki.a.ca.pem);
  return { a, b, bInA };
}

/**
 * The standard set: two BMCs `bmc-a` and `bmc-b`, an untrusted CA `rogue`, and the bad leaves the
 * refusal tests need (each claiming to be bmc-b, or bmc-a for server certificates).
 */
export interface TestPki {
  readonly dir: string;
  readonly a: TestBmc;
  readonly b: TestBmc;
  readonly rogueCa: TestCa;
  /** bmc-b client leaf whose validity ended yesterday. */
  readonly expiredClient: TestLeaf;
  /** bmc-b leaf with EKU serverAuth only, used as a client certificate. */
  readonly serverOnlyClient: TestLeaf;
  /** A clientAuth leaf naming bmc-b, signed by the untrusted rogue CA. */
  readonly rogueClient: TestLeaf;
  /** A serverAuth leaf naming bmc-a, signed by the untrusted rogue CA. */
  readonly rogueServer: TestLeaf;
  /** A serverAuth leaf from bmc-a's own CA that names another peer, `bmc-c`. */
  readonly otherNameServer: TestLeaf;
  /** A clientAuth leaf from bmc-b's CA without any SAN, only CN=bmc-b-cn. */
  readonly cnOnlyClient: TestLeaf;
  /** A bmc-b leaf without any extended key usage extension (OpenSSL accepts it for every purpose). */
  readonly noEkuClient: TestLeaf;
  /** A bmc-b client leaf from its own CA valid for four years: OpenSSL accepts it, no provisioningd issues it. */
  readonly yearsLongClient: TestLeaf;
  /** A bmc-a server leaf from its own CA valid for four years. */
  readonly yearsLongServer: TestLeaf;
}

/** Creates the standard test PKI under a fresh temp dir (or `dir`). */
export async function createTestPki(dir = mkdtempSync(join(tmpdir(), 'tls-pki-'))): Promise<TestPki> {
  mkdirSync(dir, { recursive: true });
  const [a, b, rogueCa] = await Promise.all([
    createTestBmc(dir, 'bmc-a'),
    createTestBmc(dir, 'bmc-b'),
    makeTestCa({ dir, stem: 'rogue-ca', subject: '/CN=rogue CA' }),
  ]);
  const leaf = (stem: string, ca: TestCa, rest: Omit<LeafSpec, 'dir' | 'ca' | 'stem'>) =>
    issueTestLeaf({ dir, ca, stem, ...rest });
  const [expiredClient, serverOnlyClient, rogueClient, rogueServer, otherNameServer, cnOnlyClient, noEkuClient, yearsLongClient, yearsLongServer] = await Promise.all([
    leaf('expired-client', b.ca, { commonName: 'bmc-b', dnsName: 'bmc-b', eku: ['clientAuth'], validFromDays: -3, validToDays: -1 }),
    leaf('server-only-client', b.ca, { commonName: 'bmc-b', dnsName: 'bmc-b', eku: ['serverAuth'] }),
    leaf('rogue-client', rogueCa, { commonName: 'bmc-b', dnsName: 'bmc-b', eku: ['clientAuth'] }),
    leaf('rogue-server', rogueCa, { commonName: 'bmc-a', dnsName: 'bmc-a', eku: ['serverAuth'] }),
    leaf('other-name-server', a.ca, { commonName: 'bmc-c', dnsName: 'bmc-c', eku: ['serverAuth'] }),
    leaf('cn-only-client', b.ca, { commonName: 'bmc-b-cn', eku: ['clientAuth'] }),
    leaf('no-eku-client', b.ca, { commonName: 'bmc-b', dnsName: 'bmc-b', eku: [] }),
    leaf('years-long-client', b.ca, { commonName: 'bmc-b', dnsName: 'bmc-b', eku: ['clientAuth'], validFromDays: -1, validToDays: 4 * 365 }),
    leaf('years-long-server', a.ca, { commonName: 'bmc-a', dnsName: 'bmc-a', eku: ['serverAuth'], validFromDays: -1, validToDays: 4 * 365 }),
  ]);
  return { dir, a, b, rogueCa, expiredClient, serverOnlyClient, rogueClient, rogueServer, otherNameServer, cnOnlyClient, noEkuClient, yearsLongClient, yearsLongServer };
}

/** The LINK_UP a client sends when `server` answered: it carries the SHA-256 of that leaf (lowercase hex). */
export function linkUpFrom(server: Pick<TestLeaf, 'certPem'>): { type: 'LINK_UP'; peerLeaf: string } {
  return { type: 'LINK_UP', peerLeaf: leafFingerprintOf(server) };
}

/** A leaf's SHA-256 fingerprint as the link events carry it (lowercase hex, no colons). */
export function leafFingerprintOf(leaf: Pick<TestLeaf, 'certPem'>): string {
  return new X509Certificate(leaf.certPem).fingerprint256.replace(/:/g, '').toLowerCase();
}

/** Writes `pki` as `<pki.dir>/pki.json`, for a process of its own (a fixture) to read; returns the file's path. */
export function writePkiFile(pki: TestPki): string {
  const file = join(pki.dir, 'pki.json');
  writeFileSync(file, JSON.stringify(pki));
  return file;
}

/** Reads what writePkiFile wrote (the leaves' notAfter as Dates again). */
export function readPkiFile(file: string): TestPki {
  return JSON.parse(readFileSync(file, 'utf8'), (key, value: unknown) => (key === 'notAfter' && typeof value === 'string' ? new Date(value) : value)) as TestPki;
}

/** The standard test PKI and a scratch directory for one test file: made before its tests, removed after them. */
export function useTestPki(workPrefix: string): { pki(): TestPki; work(): string } {
  let pki: TestPki | undefined;
  let work: string | undefined;
  before(async () => {
    pki = await createTestPki();
    work = mkdtempSync(join(tmpdir(), workPrefix));
  }, { timeout: 300_000 });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  }, { timeout: 120_000 });
  const made = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`useTestPki: ${what} is made in the file's before hook`);
    return v;
  };
  return { pki: () => made(pki, 'the PKI'), work: () => made(work, 'the work directory') };
}
