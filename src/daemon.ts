import { createActor, waitFor } from 'xstate';
import type { ProvisioningActor } from '../machines/provisioning.machine.ts';
import type { CertificateIssuing } from './actors/issue-certificates.actor.ts';
import type { Config } from './config/schema.ts';
import { provideDaemonEffects } from './daemon-effects.ts';
import { prepareDaemonInput, type PreparedInput } from './daemon-input.ts';
import { type DaemonParts, loadDaemonParts } from './daemon-parts.ts';
import { type BusNameClaim, claimBusName } from './dbus/bus-name-claim.ts';
import { PROVISIONING_SERVICE } from './dbus/names.ts';
import { connectSystemBus } from './dbus/system-bus.ts';
import type { Logger } from './log.ts';
import type { CredentialHolder } from './pki/certificate/index.ts';
import type { StateStore } from './state/state-store.ts';
import { errorFirstLine } from './util/error-message.ts';
import { Settling } from './util/settling.ts';

/** Everything the daemon is built from; the issuer is passed in so the token choice stays in main. */
export interface DaemonDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly credentials: CredentialHolder;
  readonly issuer: CertificateIssuing & { close(): Promise<void> };
  /** The state file: checked before the start (one that cannot be read stops it there), loaded once the bus name is owned. */
  readonly stateStore: StateStore;
}

/** A started daemon: `lost` settles if the bus goes away; stop() shuts down cleanly. */
export interface RunningDaemon {
  readonly actor: ProvisioningActor;
  readonly lost: Promise<string>;
  stop(): Promise<void>;
}

const BUS_CALL_TIMEOUT_MS = 10_000;
/** How long the busName actor may take to serve the name owned by the claim (it answers at once; this is the net). */
const OWN_NAME_DEADLINE_MS = 3 * BUS_CALL_TIMEOUT_MS;

/**
 * The composition root: owns the bus name, reads the machine's input, provides the machine's named
 * effects in one place (src/daemon-effects.ts), creates and starts the daemon actor, and waits
 * until its busName actor serves the name and its actors' start-up work has settled. The machine
 * runs everything else, the order of the way out included: stop() is actor.stop(), then waiting
 * until the busName actor has released the name and closed what closes after it.
 *
 * The bus name is the lock that says this is the only instance, and it is owned before anything
 * on disk is changed (main has only checked that the state file can be read): reading the input
 * moves a corrupt state file aside, moves attested CAs out of bmcweb's store, rebuilds the trust
 * store's hash links and revokes bindings the state file records as revoked. A second instance
 * must do none of that, so it is refused (BusNameTakenError) before. The name
 * rather than a lock file: the bus daemon drops it the moment its owner dies (no stale lock after a
 * crash, no PID to check), only root may own it (the D-Bus policy), and it is what systemd's
 * Type=dbus and every client already take for "provisioningd runs". Until the object is exported
 * with the state as read, the calls that reach it are held by the claim, never answered from a
 * state not read yet.
 */
export async function startDaemon(deps: DaemonDeps): Promise<RunningDaemon> {
  const { config, log } = deps;
  const conn = connectSystemBus();
  let claim: BusNameClaim;
  try {
    claim = await claimBusName({ bus: conn.bus, name: PROVISIONING_SERVICE, timeoutMs: BUS_CALL_TIMEOUT_MS, holdMs: BUS_CALL_TIMEOUT_MS });
  } catch (err) {
    conn.close();
    throw err;
  }
  let prepared: PreparedInput;
  let parts: DaemonParts;
  try {
    prepared = await prepareDaemonInput({ config, log, timeoutMs: BUS_CALL_TIMEOUT_MS, stateStore: deps.stateStore });
    parts = await loadDaemonParts(config, log);
  } catch (err) {
    claim.refuse(`provisioningd did not start: ${errorFirstLine(err)}`);
    conn.close();
    throw err;
  }
  // What the actors start or close in the background (src/util/settling.ts).
  const starting = new Settling();
  const closing = new Settling();
  const released = new Settling();
  const machine = provideDaemonEffects({
    ...deps,
    ...prepared,
    parts,
    conn,
    busCallTimeoutMs: BUS_CALL_TIMEOUT_MS,
    starting,
    closing,
    released,
    root: () => actor,
  });
  const actor = createActor(machine, { input: prepared.input });
  const stop = async () => {
    actor.stop();
    await released.settled();
  };

  actor.start();
  try {
    await waitFor(actor, (s) => s.context.ownsBusName, { timeout: OWN_NAME_DEADLINE_MS });
    // The object is exported with the state as read: the calls held since the claim are answered now.
    claim.open();
    await starting.settled();
  } catch (err) {
    claim.refuse(`provisioningd did not start: ${errorFirstLine(err)}`);
    await stop();
    throw err;
  }
  log.info(`provisioningd owns the bus name; provisioned=${String(prepared.input.provisioned)}`, {
    state: JSON.stringify(actor.getSnapshot().value),
  });
  return { actor, lost: conn.lost, stop };
}
