/**
 * attestationd under test: its configuration in a temp dir, its identity key created by its own
 * `--create-identity-key` on the software token (or a PKCS#11 token the test configures), a
 * device certificate chain for that key, roots, a reference manifest, and the process itself on
 * a private bus, stopped by PID.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ATTESTATION_SERVICE } from '../../src/attestationd/names.ts';
import { busctl, eventually, freePort, REPO, type DaemonHandle } from './daemon.ts';
import { stopProcess, type PrivateBus } from './private-bus.ts';
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

/** The command line of attestationd from source, as `pnpm -s attestationd` runs it. */
export const attestationdArgs = (confPath: string, ...rest: string[]) => ['--import', 'tsx', join(REPO, 'src/attestationd/main.ts'), '--conf', confPath, ...rest];

/**
 * Writes attestationd's config under `dir` (defaults: loopback SPDM on a free port, files under
 * `dir`, short timeouts; `config` overrides), creates the identity key with
 * `attestationd --create-identity-key` and writes a chain (root → intermediate → device) for it.
 */
export async function createAttestationd(o: { dir: string; name: string; config?: Record<string, unknown>; env?: Record<string, string> }): Promise<AttestationdSetup> {
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
  const publicPem = await mustRun(process.execPath, attestationdArgs(confPath, '--create-identity-key'), { cwd: REPO, env: o.env });
  const spki = publicPem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  const identity = await createSpdmTestIdentity({ curve: 'P-256', leafSpki: new Uint8Array(Buffer.from(spki, 'base64')), name: `${o.name} device identity` });
  writeFileSync(String(config['identity_chain']), identity.chainPem);
  return { dir: o.dir, confPath, config, rootPem: identity.rootPem, spdmPort };
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
export async function startAttestationd(o: { bus: PrivateBus; setup: AttestationdSetup; env?: Record<string, string>; waitForName?: boolean }): Promise<DaemonHandle> {
  const child = spawn(process.execPath, attestationdArgs(o.setup.confPath), {
    cwd: REPO,
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: o.bus.address, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('attestationd did not start');
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const handle: DaemonHandle = {
    pid,
    process: child,
    dir: o.setup.dir,
    confPath: o.setup.confPath,
    config: o.setup.config,
    output: () => out,
    exited: () => exit,
    stop: () => stopProcess(child),
    kill: (signal) => child.kill(signal),
  };
  if (o.waitForName ?? true) {
    let dead = false;
    void exit.then(() => (dead = true));
    const owned = await eventually(async () => dead || (await busctl(o.bus, 'status', ATTESTATION_SERVICE)).code === 0, 20_000, 50);
    if (dead || !owned) {
      await handle.stop();
      throw new Error(`attestationd did not own ${ATTESTATION_SERVICE}:\n${out}`);
    }
  }
  return handle;
}
