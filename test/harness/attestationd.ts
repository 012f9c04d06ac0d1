/**
 * attestationd under test: its configuration in a temp dir, its identity key created by its own
 * `--create-identity-key` on the software token (or a PKCS#11 token the test configures), a
 * device certificate chain for that key, roots, a reference manifest, and the process itself on
 * a private bus, stopped by PID.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ATTESTATION_SERVICE } from '../../src/attestationd/names.ts';
import { freePort, REPO, spawnDaemonProcess, type DaemonHandle } from './daemon.ts';
import type { PrivateBus } from './private-bus.ts';
import { mustRun } from './run-tool.ts';
import { createSpdmTestIdentity } from './spdm-identity.ts';

/** One attestationd's files: its config (as written) and the root that certifies its identity. */
export interface AttestationdSetup {
  readonly dir: string;
  readonly confPath: string;
  readonly config: Record<string, unknown>;
  /** The root of its identity chain (PEM): what a peer must list under `roots` to accept it. */
  readonly rootPem: string;
  readonly spdmPort: number;
}

/** Which attestationd to run: from source through tsx (`pnpm -s attestationd`), or the built bundle. */
export type AttestationdEntry = 'src' | 'dist';

/** The command line of attestationd from source (as `pnpm -s attestationd` runs it) or from dist/. */
export const attestationdArgs = (confPath: string, rest: readonly string[] = [], entry: AttestationdEntry = 'src') =>
  entry === 'src'
    ? ['--import', 'tsx', join(REPO, 'src/attestationd/main.ts'), '--conf', confPath, ...rest]
    : [join(REPO, 'dist/attestationd.js'), '--conf', confPath, ...rest];

/**
 * Writes attestationd's config under `dir` (defaults: loopback SPDM on a free port, files under
 * `dir`, short timeouts; `config` overrides), creates the identity key with
 * `attestationd --create-identity-key` and writes a chain (root → intermediate → device) for it;
 * the device certificate names the BMC (`DNS:<name>`), as `identity_name: "match"` requires.
 */
export async function createAttestationd(o: {
  dir: string;
  name: string;
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  entry?: AttestationdEntry;
}): Promise<AttestationdSetup> {
  mkdirSync(o.dir, { recursive: true });
  const spdmPort = await freePort();
  const config: Record<string, unknown> = {
    spdm_address: '127.0.0.1',
    spdm_port: spdmPort,
    state_dir: join(o.dir, 'state'),
    cert_root: `${join(o.dir, 'root')}/`,
    identity_chain: join(o.dir, 'identity-chain.pem'),
    roots: join(o.dir, 'roots.pem'),
    reference_manifest: join(o.dir, 'reference-manifest.json'),
    measurements: [{ index: 1, file: join(REPO, 'src/attestationd/main.ts'), kind: 'firmware' }],
    attest_timeout: 10,
    request_timeout: 5,
    ...o.config,
  };
  const confPath = join(o.dir, 'attestation.conf');
  writeFileSync(confPath, JSON.stringify(config, null, 2));
  const publicPem = await mustRun(process.execPath, attestationdArgs(confPath, ['--create-identity-key'], o.entry), { cwd: REPO, env: o.env });
  const spki = publicPem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  const identity = await createSpdmTestIdentity({ curve: 'P-256', leafSpki: new Uint8Array(Buffer.from(spki, 'base64')), name: `${o.name} device identity`, dnsName: o.name });
  writeFileSync(String(config['identity_chain']), identity.chainPem);
  return { dir: o.dir, confPath, config, rootPem: identity.rootPem, spdmPort: Number(config['spdm_port']) };
}

/** Writes the roots file of `setup`: the identity roots it accepts from peers. */
export function writeRoots(setup: AttestationdSetup, rootPems: readonly string[]): void {
  writeFileSync(String(setup.config['roots']), rootPems.join(''));
}

/** SHA-256 of a file, hex: a reference value. */
export const sha256File = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Writes the reference manifest of `setup`: each index with the digests of the given files. */
export function writeManifest(setup: AttestationdSetup, entries: ReadonlyArray<{ index: number; files: readonly string[]; description?: string }>): void {
  const manifest = {
    version: 1,
    measurements: entries.map((e) => ({ index: e.index, ...(e.description ? { description: e.description } : {}), sha256: e.files.map(sha256File) })),
  };
  writeFileSync(String(setup.config['reference_manifest']), JSON.stringify(manifest, null, 2));
}

/** Starts attestationd on `bus` and waits until it owns its name; every exit path stops it by PID. */
export async function startAttestationd(o: {
  bus: PrivateBus;
  setup: AttestationdSetup;
  env?: Record<string, string>;
  waitForName?: boolean;
  entry?: AttestationdEntry;
  /** A command the process runs under (e.g. `ip netns exec NS`), as for provisioningd. */
  wrap?: readonly string[];
  startTimeoutMs?: number;
}): Promise<DaemonHandle> {
  return spawnDaemonProcess({
    label: 'attestationd',
    args: attestationdArgs(o.setup.confPath, [], o.entry),
    bus: o.bus,
    env: o.env,
    busName: ATTESTATION_SERVICE,
    waitForName: o.waitForName ?? true,
    ...(o.wrap ? { wrap: o.wrap } : {}),
    ...(o.startTimeoutMs ? { startTimeoutMs: o.startTimeoutMs } : {}),
    files: { dir: o.setup.dir, confPath: o.setup.confPath, config: o.setup.config },
  });
}
