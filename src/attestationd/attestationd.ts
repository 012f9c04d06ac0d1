import { certPaths } from '../pki/certificate/index.ts';
import { connectSystemBus } from '../dbus/system-bus.ts';
import type { Logger } from '../log.ts';
import { type ListenAddressFollower, followListenAddresses } from '../net/listen-address-follower.ts';
import { ADDRESS_POLL_MS } from '../net/listen-address-watcher.ts';
import type { ReconcileResult } from '../net/listener-set.ts';
import { exportAttestationService, type AttestationService } from './attestation-service.ts';
import type { AttestationConfig } from './config-schema.ts';
import type { DeviceIdentity, IdentitySigner } from './device-identity.ts';
import { measurementBlocks, type ServedBlock } from './measurement-blocks.ts';
import { createRequester, type SpdmAttest } from './requester.ts';
import { errorMessage } from '../util/error-message.ts';

/** The SPDM responder as src/spdm exports it (startSpdmResponder()); injected like the requester. */
export type StartSpdmResponder = (o: {
  port: number;
  maxConnections: number;
  transport: 'tcp';
  signer: IdentitySigner;
  certificateChain: Uint8Array[];
  measurements: () => Promise<ServedBlock[]>;
  onSession?: (e: { remoteAddress: string; remotePort: number; completed: boolean; reason?: string }) => void;
  timeoutMs: number;
  lifetimeMs: number;
  log: Logger;
}) => Promise<SpdmListener>;

/** The part of a running SPDM responder attestationd uses: where it listens, and its end. */
export interface SpdmListener {
  readonly port: number;
  listen(hosts: readonly string[]): Promise<ReconcileResult>;
  close(): Promise<void>;
}

/** What attestationd is built from: its config, its identity, and the SPDM implementation. */
export interface AttestationdDeps {
  readonly config: AttestationConfig;
  readonly log: Logger;
  readonly identity: DeviceIdentity;
  readonly spdm: { readonly attest: SpdmAttest; readonly startSpdmResponder: StartSpdmResponder };
}

/** A running attestationd: `lost` settles if the bus goes away; stop() shuts down cleanly. */
export interface RunningAttestationd {
  readonly spdmPort: number;
  readonly lost: Promise<string>;
  stop(): Promise<void>;
}

const BUS_CALL_TIMEOUT_MS = 10_000;
const ms = (s: number) => Math.round(s * 1000);

/** Starts the D-Bus service (requester objects, responder objects) and the SPDM responder. */
export async function startAttestationd(deps: AttestationdDeps): Promise<RunningAttestationd> {
  const { config, log, identity } = deps;
  const conn = connectSystemBus();
  let busGone = false;
  void conn.lost.then(() => (busGone = true));
  // The SPDM responder listens before the bus name is owned: owning it is what says "ready"
  // (Type=dbus), so a requester that sees the name finds the responder up. A session that ends
  // before the name is owned is logged but has no D-Bus object to report it on.
  let service: AttestationService | undefined;
  const provisioningCaFile = certPaths(config.cert_root).selfCa;
  let responder: SpdmListener;
  let follower: ListenAddressFollower;
  try {
    responder = await deps.spdm.startSpdmResponder({
      port: config.spdm_port,
      maxConnections: config.max_connections,
      transport: 'tcp',
      signer: identity.signer,
      certificateChain: identity.chain,
      // Half the request's deadline: a file whose read hangs is left out of the blocks (a clear
      // MEASUREMENT_UNREADABLE) before the request itself runs out of time.
      measurements: () => measurementBlocks({ files: config.measurements, provisioningCaFile, log, readTimeoutMs: ms(config.request_timeout) / 2 }),
      onSession: (e) => {
        const from = `${e.remoteAddress}:${e.remotePort}`;
        if (e.completed) log.info(`attested by ${from}: signed measurements served`, { event: 'RESPONDER_ATTESTED' });
        else log.info(`attestation by ${from} ended early${e.reason ? `: ${e.reason}` : ''}`, { event: 'RESPONDER_ABANDONED' });
        if (!busGone) service?.responderSession(e);
      },
      timeoutMs: ms(config.request_timeout),
      // A requester (ours, with the same attest_timeout) has given up on a connection by then.
      lifetimeMs: ms(config.attest_timeout),
      log: log.child({ component: 'spdm' }),
    });
    const spdm = responder;
    follower = followListenAddresses({
      explicit: config.spdm_address ? [config.spdm_address] : [],
      interfaceId: config.interface_id,
      what: 'SPDM responder',
      log,
      apply: (hosts) => spdm.listen(hosts),
      onFailure: (reason) => log.error(`the SPDM responder listens nowhere: ${reason}; tried again every ${ADDRESS_POLL_MS / 1000} s`, { event: 'SPDM_LISTEN_FAILED' }),
    });
    await follower.started.catch(async (err: unknown) => {
      await spdm.close().catch(() => undefined);
      throw err;
    });
  } catch (err) {
    conn.close();
    throw new Error(`cannot serve SPDM on port ${config.spdm_port}: ${errorMessage(err)}`);
  }
  try {
    service = await exportAttestationService({
      bus: conn.bus,
      log,
      maxDevices: config.max_devices,
      busCallTimeoutMs: BUS_CALL_TIMEOUT_MS,
      attest: createRequester({
        spdmAttest: deps.spdm.attest,
        rootsFile: config.roots,
        identityName: config.identity_name,
        manifestFile: config.reference_manifest,
        timeoutMs: ms(config.attest_timeout),
      }),
    });
  } catch (err) {
    follower.close();
    await responder.close().catch(() => undefined);
    conn.close();
    throw err;
  }
  log.info(`attestationd owns the bus name; SPDM responder on port ${responder.port} (${listenWhere(config)}); identity ${identity.description}`);
  return {
    spdmPort: responder.port,
    lost: conn.lost,
    async stop() {
      follower.close();
      await responder.close().catch((err: unknown) => log.warn(`closing the SPDM responder: ${String(err)}`));
      if (!busGone) await service?.close().catch((err: unknown) => log.warn(`releasing the bus name: ${String(err)}`));
      conn.close();
      await identity.close().catch((err: unknown) => log.warn(`closing the identity token: ${String(err)}`));
    },
  };
}

/** Where the SPDM responder listens, for the log. */
const listenWhere = (config: AttestationConfig) => (config.spdm_address ? `on ${config.spdm_address}` : `on the addresses of ${config.interface_id}`);
