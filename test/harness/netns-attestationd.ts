/**
 * attestationd in every BMC of a rack: each BMC gets its own identity key (created by its own
 * attestationd) certified by its own test root, serves SPDM on its segment address at the default
 * SPDM port (2323, what provisioningd dials for a discovered neighbour), and accepts every rack
 * BMC's root and measurements (the same firmware, any rack BMC's provisioning.conf). Each process
 * runs inside its BMC's namespace and is stopped by PID through the rack's teardown.
 */
import { join } from 'node:path';
import { DEFAULT_SPDM_PORT } from '../../src/config/schema.ts';
import { createAttestationd, startAttestationd, writeManifest, writeRoots, type AttestationdSetup } from './attestationd.ts';
import { REPO, type DaemonHandle } from './daemon.ts';
import type { RackBmc } from './netns-bmc.ts';
import type { Rack } from './netns.ts';

/** The firmware every rack BMC measures (and accepts from its neighbours). */
const FIRMWARE = join(REPO, 'src/attestationd/main.ts');

/** One BMC's attestationd: its files and the running process. */
export interface RackAttestationd {
  readonly setup: AttestationdSetup;
  daemon: DaemonHandle;
}

/** provisioningd's configuration file of a rack BMC (as the harness's startDaemon writes it). */
const provisioningConf = (bmc: RackBmc) => join(bmc.dir, 'provisioning.conf');

/**
 * Creates each BMC's attestationd files (identity, roots of every rack BMC, reference manifest),
 * then starts each inside its namespace. Start provisioningd first: its config file is measured.
 */
export async function startRackAttestationds(rack: Rack, bmcs: readonly RackBmc[]): Promise<RackAttestationd[]> {
  const setups: AttestationdSetup[] = [];
  for (const bmc of bmcs) {
    setups.push(
      await createAttestationd({
        dir: join(bmc.dir, 'attestation'),
        name: bmc.node.name,
        config: {
          spdm_address: bmc.node.address,
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
    writeManifest(setup, [
      { index: 1, files: [FIRMWARE], description: 'attestationd' },
      { index: 2, files: bmcs.map(provisioningConf), description: 'provisioning.conf' },
    ]);
    const daemon = await startAttestationd({ bus: bmc.bus, setup, wrap: ['ip', 'netns', 'exec', bmc.node.ns], startTimeoutMs: 60_000 });
    rack.track(daemon.process);
    out.push({ setup, daemon });
  }
  return out;
}
