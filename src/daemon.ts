import { createActor, waitFor } from 'xstate';
import type { ProvisioningActor } from '../machines/provisioning.machine.ts';
import type { CertificateIssuing } from './actors/issue-certificates.actor.ts';
import type { Config } from './config/schema.ts';
import { provideDaemonEffects } from './daemon-effects.ts';
import { prepareDaemonInput, type PreparedInput } from './daemon-input.ts';
import { type DaemonParts, loadDaemonParts } from './daemon-parts.ts';
import { connectSystemBus } from './dbus/system-bus.ts';
import type { Logger } from './log.ts';
import type { CredentialHolder } from './pki/certificate/index.ts';
import type { PersistedState, StateStore } from './state/state-store.ts';
import { Settling } from './util/settling.ts';

/** Everything the daemon is built from; the issuer is passed in so the token choice stays in main. */
export interface DaemonDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly credentials: CredentialHolder;
  readonly issuer: CertificateIssuing & { close(): Promise<void> };
  /** The state file, read before the start (one that cannot be read stops it there), and what it held. */
  readonly state: { readonly store: StateStore; readonly loaded: PersistedState };
}

/** A started daemon: `lost` settles if the bus goes away; stop() shuts down cleanly. */
export interface RunningDaemon {
  readonly actor: ProvisioningActor;
  readonly lost: Promise<string>;
  stop(): Promise<void>;
}

const BUS_CALL_TIMEOUT_MS = 10_000;
/** How long owning the bus name may take: its RequestName has BUS_CALL_TIMEOUT_MS; this is the net around it. */
const OWN_NAME_DEADLINE_MS = 3 * BUS_CALL_TIMEOUT_MS;

/**
 * The composition root: reads the machine's input, provides the machine's named effects in one
 * place (src/daemon-effects.ts), creates and starts the daemon actor, and waits until it owns its
 * bus name and its actors' start-up work has settled. The machine runs everything else, the lock
 * and the order of the way out included: stop() is actor.stop(), then waiting until the busName
 * actor has released the name and closed what closes after it.
 */
export async function startDaemon(deps: DaemonDeps): Promise<RunningDaemon> {
  const { config, log } = deps;
  // Connecting first: the bus handshake (a few round trips) runs while the trust store and the
  // optional parts are read, so the name is asked for sooner.
  const conn = connectSystemBus();
  let prepared: PreparedInput;
  let parts: DaemonParts;
  try {
    prepared = await prepareDaemonInput({ config, log, timeoutMs: BUS_CALL_TIMEOUT_MS, state: deps.state });
    parts = await loadDaemonParts(config, log);
  } catch (err) {
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
    const started = await waitFor(actor, (s) => s.context.ownsBusName || s.matches({ self: 'NameNotOwned' }), { timeout: OWN_NAME_DEADLINE_MS });
    if (!started.context.ownsBusName) throw new Error(started.context.busNameProblem ?? 'the bus name could not be owned');
    await starting.settled();
  } catch (err) {
    await stop();
    throw err;
  }
  log.info(`provisioningd owns the bus name; provisioned=${String(prepared.input.provisioned)}`, {
    state: JSON.stringify(actor.getSnapshot().value),
  });
  return { actor, lost: conn.lost, stop };
}
