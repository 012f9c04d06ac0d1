/**
 * Two BMCs on private buses (provisioningd + attestationd each), static peers of each other, no CA
 * placed by hand, both self-provisioned: what the attestation integration tests start from.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createAttestationd, startAttestationd, writeManifest, writeRoots, type AttestationdSetup } from './attestationd.ts';
import type { BusFixture } from './bus-fixture.ts';
import { busctl, eventually, freePort, IFACE, OBJECT, REPO, SERVICE, type DaemonHandle } from './daemon.ts';
import type { PrivateBus } from './private-bus.ts';
import { selfProvisioningFilesExist } from './self-provisioning-files.ts';

/** One BMC of the pair. */
export interface PairBmc {
  readonly name: string;
  readonly port: number;
  readonly dir: string;
  readonly bus: PrivateBus;
  readonly att: AttestationdSetup;
  daemon?: DaemonHandle;
  attestationd?: DaemonHandle;
}

/** The daemon's own config file: measurement 2 of its attestationd (any BMC of the pair's is accepted). */
export const measuredConf = (b: PairBmc) => join(b.dir, 'provisioning.conf');
export const pairCertRoot = (b: PairBmc) => `${join(b.dir, 'root')}/`;

/** Every log of the pair, for failure messages. */
export const pairOutput = (bmcs: readonly PairBmc[]) =>
  bmcs.map((b) => `--- ${b.name}\n${b.daemon?.output()}\n--- attestationd ${b.name}\n${b.attestationd?.output()}`).join('\n');

/** Writes each BMC's manifest: the same firmware (attestationd's main.ts), the config of either BMC (and of `extraConfFiles`: approved new values). */
export function writePairManifests(bmcs: readonly PairBmc[], extraConfFiles: readonly string[] = []): void {
  for (const self of bmcs) {
    writeManifest(self.att, [
      { index: 1, files: [join(REPO, 'src/attestationd/main.ts')], description: 'attestationd' },
      { index: 2, files: [...bmcs.map(measuredConf), ...extraConfFiles], description: 'provisioning.conf' },
    ]);
  }
}

/**
 * Starts bmc-a and bmc-b (daemon config: `config` on top of the pair's own keys), their attestationd,
 * and provisions each one's own credentials. Nobody trusts anybody yet.
 */
export async function startAttestedPair(
  fixture: BusFixture,
  config: Record<string, unknown>,
  deadlineMs: number,
  /** More configuration for one BMC, by name (e.g. its metrics_port); `peer` is the other BMC of the pair. */
  perBmc: (name: string, peer: PairBmc) => Record<string, unknown> = () => ({}),
): Promise<[PairBmc, PairBmc]> {
  const make = async (name: string, bus: PrivateBus): Promise<PairBmc> => {
    const dir = fixture.tempDir(`att2-${name}-`);
    const att = await createAttestationd({
      dir: join(dir, 'attestation'),
      name,
      config: {
        cert_root: `${join(dir, 'root')}/`,
        measurements: [
          { index: 1, file: join(REPO, 'src/attestationd/main.ts'), kind: 'firmware' },
          { index: 2, file: join(dir, 'provisioning.conf'), kind: 'configuration' },
        ],
      },
    });
    return { name, port: await freePort(), dir, bus, att };
  };
  const a = await make('bmc-a', fixture.bus());
  const b = await make('bmc-b', await fixture.newBus());
  for (const [self, peer] of [[a, b], [b, a]] as const) {
    self.daemon = await fixture.startDaemon({
      bus: self.bus,
      dir: self.dir,
      config: {
        name: self.name,
        port: self.port,
        cert_root: pairCertRoot(self),
        state_dir: join(self.dir, 'state'),
        peers: [{ name: peer.name, address: '127.0.0.1', port: peer.port, spdm_port: peer.att.spdmPort }],
        ...config,
        ...perBmc(self.name, peer),
      },
    });
  }
  for (const self of [a, b]) writeRoots(self.att, [a.att.rootPem, b.att.rootPem]);
  writePairManifests([a, b]);
  for (const self of [a, b]) {
    self.attestationd = await startAttestationd({ bus: self.bus, setup: self.att });
    fixture.cleanup(() => self.attestationd?.stop());
  }
  for (const self of [a, b]) {
    const r = await busctl(self.bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await eventually(() => selfProvisioningFilesExist(pairCertRoot(self)), deadlineMs), `${self.name} wrote its certificates`);
  }
  return [a, b];
}
