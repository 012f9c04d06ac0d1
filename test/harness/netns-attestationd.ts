/**
 * attestationd in every BMC of a rack: each BMC gets its own identity key (created by its own
 * attestationd) certified by its own test root, serves SPDM on its segment address (that of eth1) at the default
 * SPDM port (2323, what provisioningd dials for a discovered neighbour), and accepts every rack
 * BMC's root and measurements (the same firmware, any rack BMC's provisioning.conf). Each process
 * runs inside its BMC's namespace and is stopped by PID through the rack's teardown.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { DEFAULT_SPDM_PORT } from '../../src/config/schema.ts';
import { createAttestationd, startAttestationd, writeManifest, writeRoots, type AttestationdSetup } from './attestationd.ts';
import { REPO, type DaemonHandle } from './daemon.ts';
import { expectPeerStatus, RACK_LINK_STEP_MS, rackLogs, startRackBmcs, stopRackBmcs, type RackBmc } from './netns-bmc.ts';
import { createRack, type Rack } from './netns.ts';
import type { PeerStatusChange } from './peer-status-recorder.ts';
import type { PrivateBus } from './private-bus.ts';

/** The firmware every rack BMC measures (and accepts from its neighbours). */
const FIRMWARE = join(REPO, 'src/attestationd/main.ts');

/** One BMC's attestationd: its files and the running process. */
export interface RackAttestationd {
  readonly setup: AttestationdSetup;
  daemon: DaemonHandle;
}

/** provisioningd's configuration file of a rack BMC (as the harness's startDaemon writes it). */
export const provisioningConf = (bmc: Pick<RackBmc, 'dir'>) => join(bmc.dir, 'provisioning.conf');

/**
 * Creates each BMC's attestationd files (identity, roots of every rack BMC, reference manifest),
 * then starts each inside its namespace (from source, or from the bundle when `opts.entry` says
 * so; with `opts.env(index)` added to its environment). Start provisioningd first: its config file is measured.
 */
export async function startRackAttestationds(
  rack: Rack,
  bmcs: readonly RackBmc[],
  opts: { readonly entry?: 'src' | 'dist'; readonly env?: (index: number) => Record<string, string> | undefined } = {},
): Promise<RackAttestationd[]> {
  const setups: AttestationdSetup[] = [];
  for (const bmc of bmcs) {
    setups.push(
      await createAttestationd({
        dir: join(bmc.dir, 'attestation'),
        name: bmc.node.name,
        config: {
          // No spdm_address: the responder follows the addresses of eth1 (attestationd's default interface_id).
          spdm_address: undefined,
          spdm_port: DEFAULT_SPDM_PORT,
          cert_root: bmc.config['cert_root'],
          measurements: [
            { index: 1, file: FIRMWARE, kind: 'firmware' },
            { index: 2, file: provisioningConf(bmc), kind: 'configuration' },
          ],
        },
      }),
    );
  }
  const out: RackAttestationd[] = [];
  for (const [i, bmc] of bmcs.entries()) {
    const setup = setups[i];
    if (!setup) throw new Error(`no attestationd setup for ${bmc.node.name}`);
    writeRoots(setup, setups.map((s) => s.rootPem));
    writeRackManifest(setup, bmcs);
    const env = opts.env?.(i);
    const daemon = await startAttestationd({ bus: bmc.bus, setup, wrap: ['ip', 'netns', 'exec', bmc.node.ns], startTimeoutMs: 60_000, ...(opts.entry ? { entry: opts.entry } : {}), ...(env ? { env } : {}) });
    rack.track(daemon.process);
    out.push({ setup, daemon });
  }
  return out;
}

/**
 * A rack BMC's reference manifest: the firmware, and any rack BMC's provisioning.conf, plus the
 * digests of `approved` files (new values approved before a peer changes to them).
 */
export function writeRackManifest(setup: AttestationdSetup, bmcs: readonly RackBmc[], approved: readonly string[] = []): void {
  writeManifest(setup, [
    { index: 1, files: [FIRMWARE], description: 'attestationd' },
    { index: 2, files: [...bmcs.map(provisioningConf), ...approved], description: 'provisioning.conf' },
  ]);
}

/** What an attested rack test runs on: the rack and its BMCs (each with attestationd, same order), once started. */
export interface AttestedRack {
  readonly rack: Rack;
  readonly bmcs: readonly RackBmc[];
  readonly attestationds: readonly RackAttestationd[];
}

/**
 * Starts a BMC's attestationd again (after it was stopped) inside its namespace: with `opts.env`
 * added to its environment, from source or from the bundle as `opts.entry` says.
 */
export async function restartRackAttestationd(
  rack: Rack,
  bmc: RackBmc,
  att: RackAttestationd,
  opts: { readonly env?: Record<string, string>; readonly entry?: 'src' | 'dist' } = {},
): Promise<void> {
  att.daemon = await startAttestationd({
    bus: bmc.bus,
    setup: att.setup,
    wrap: ['ip', 'netns', 'exec', bmc.node.ns],
    startTimeoutMs: 60_000,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.entry ? { entry: opts.entry } : {}),
  });
  rack.track(att.daemon.process);
}

/** An attested rack for one test suite: started by start(), every process and file gone after the suite. */
export interface AttestedRackFixture {
  start(): Promise<AttestedRack>;
  /** The last lines of every provisioningd and attestationd, for a failure message. */
  logs(): string;
  /** Waits for `of`'s per-peer object for `peer` to report `status` at or after `since` (default deadline: a link step). */
  reaches(of: RackBmc, peer: RackBmc, status: string, since: number, what: string, timeoutMs?: number): Promise<PeerStatusChange>;
}

/**
 * A rack of `size` BMCs on 169.254.`subnet`.0/24, each with its bus, lldpd, lldp bridge,
 * provisioningd and attestationd (attestation_timeout 30 s), and no trust placed by hand.
 * Call it in a describe(): it registers the suite's after() teardown.
 */
export function useAttestedRack(o: {
  readonly size: number;
  readonly subnet: number;
  readonly tmpPrefix: string;
  /** More provisioningd configuration for every BMC (e.g. reattest_interval_s). */
  readonly config?: Record<string, unknown>;
}): AttestedRackFixture {
  let rack: Rack | undefined;
  let bmcs: RackBmc[] = [];
  let attestationds: RackAttestationd[] = [];
  const buses: PrivateBus[] = [];
  const dir = mkdtempSync(join(tmpdir(), o.tmpPrefix));
  after(() => stopRackBmcs({ rack, bmcs, buses, dir }), { timeout: 120_000 });
  const logs = () => rackLogs(bmcs, attestationds);
  return {
    async start() {
      const started = await createRack({ size: o.size, subnet: o.subnet });
      rack = started;
      bmcs = await startRackBmcs(started, dir, buses, { attestation_timeout: 30, ...o.config });
      attestationds = await startRackAttestationds(started, bmcs);
      return { rack: started, bmcs, attestationds };
    },
    logs,
    reaches: (of, peer, status, since, what, timeoutMs = RACK_LINK_STEP_MS) => expectPeerStatus({ of, peer, status, since, what, timeoutMs, logs }),
  };
}
