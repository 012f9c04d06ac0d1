import { randomUUID } from 'node:crypto';
import dbus from 'dbus-next';
import type { DbusProperties } from '../../machines/dbus-properties.ts';
import { checkDeviceId } from '../../machines/device-id.ts';
import type { Failure } from '../../machines/failure.ts';
import type { ProvisioningActor, SelfProvisionResult } from '../../machines/provisioning.machine.ts';
import { quoteForLog } from '../log-escape.ts';
import type { Logger } from '../log.ts';
import { throttleWarnings, type ThrottledWarnings } from '../log-throttle.ts';
import { withTimeout } from '../util/with-timeout.ts';
import { CommonError, PROVISIONING_INTERFACE, PROVISIONING_PATH, PROVISIONING_SERVICE } from './names.ts';
import { errorFirstLine } from '../util/error-message.ts';

const { Interface, ACCESS_READ } = dbus.interface;

/** What the D-Bus service needs from the daemon. */
export interface ProvisioningServiceDeps {
  readonly bus: dbus.MessageBus;
  readonly actor: ProvisioningActor;
  readonly log: Logger;
  /** This BMC's name (`name`): never a peer, whatever its case. */
  readonly ownName: string;
  /** How long ProvisionPeer("self") waits for the issuance and persisting the flag before answering Timeout. */
  readonly selfDeadlineMs: number;
  /** Runs before a successful ProvisionPeer("self") is answered (persisting the flag), within selfDeadlineMs. */
  readonly beforeSelfReply: () => Promise<void>;
  /** Deadline for bus-daemon calls: ReleaseName when the service closes. */
  readonly busCallTimeoutMs: number;
  /** The projection to serve from the first moment the object is exported. */
  readonly initial: DbusProperties;
}

/** The exported service: push a new projection with publish(); stopServing() once the daemon stops; close() releases the name. */
export interface ProvisioningService {
  publish(props: DbusProperties): void;
  /**
   * The daemon is stopping: from now on every ProvisionPeer call, and one still waiting for its
   * issuance, is answered `Unavailable NOT_SERVING: <why>` (the machine that would answer is
   * stopped); properties are still read until close().
   */
  stopServing(why: string): void;
  close(): Promise<void>;
}

/** The failure code of a ProvisionPeer("self") whose certificates were issued but whose state file could not be written. */
export const STATE_WRITE = 'STATE_WRITE';
/** The failure code of a call the service will not answer: the daemon did not start, or is stopping. */
export const NOT_SERVING = 'NOT_SERVING';

/** What ProvisionPeer("self") ends with: the machine's verdict, then the state file's write. */
type SelfOutcome = { readonly ok: true } | { readonly ok: false; readonly failure: Failure };

/** Maps a failure code from the actors to the OpenBMC common error a caller sees. */
export function dbusErrorFor(failure: Failure): dbus.DBusError {
  const name =
    failure.code === 'TIMEOUT' ? CommonError.Timeout : failure.code === STATE_WRITE ? CommonError.InternalFailure : CommonError.Unavailable;
  const text = failure.message.startsWith(failure.code) ? failure.message : `${failure.code}: ${failure.message}`;
  return new dbus.DBusError(name, text);
}

class ProvisioningInterface extends Interface {
  // Plain fields: dbus-next may call property getters on the prototype, before construction.
  props: DbusProperties | undefined;
  deps: ProvisioningServiceDeps | undefined;
  /** Refusals a caller can repeat at will: logged with a cap. */
  refusals: ThrottledWarnings | undefined;
  /** Why ProvisionPeer is refused: set once the daemon stops (stopServing). */
  stopping: string | undefined;
  waiters = new Map<string, (r: SelfProvisionResult) => void>();

  get peerConnected(): string {
    return this.props?.peerConnected ?? 'xyz.openbmc_project.Provisioning.Provisioning.PeerConnectionStatus.NotDetermined';
  }

  get provisioned(): boolean {
    return this.props?.provisioned ?? false;
  }

  get clockPlausible(): boolean {
    return this.props?.clockPlausible ?? true;
  }

  async ProvisionPeer(deviceId: string): Promise<void> {
    const deps = this.deps;
    if (!deps) throw new dbus.DBusError(CommonError.Unavailable, `${NOT_SERVING}: the service is starting`);
    const refuse = (code: keyof typeof CommonError, text: string): never => {
      this.refusals?.warn(`ProvisionPeer(${quoteForLog(deviceId)}) refused: ${text}`, { event: 'ProvisionPeer', code });
      throw new dbus.DBusError(CommonError[code], text);
    };
    if (this.stopping !== undefined) return refuse('Unavailable', `${NOT_SERVING}: ${this.stopping}`);
    const check = checkDeviceId(deviceId, { ownName: deps.ownName });
    const log = deps.log.child({ event: 'ProvisionPeer' });
    if (check.kind === 'invalid') return refuse('InvalidArgument', check.reason);
    if (check.kind === 'own') return refuse('InvalidArgument', `deviceId is this BMC's own name (${deps.ownName}): "self" provisions this BMC`);
    if (check.kind === 'peer') {
      const event = { type: 'PROVISION_PEER', id: check.id } as const;
      // The machine decides: it takes PROVISION_PEER once this BMC is provisioned, and for a new
      // name only within max_requested_peers.
      const snapshot = deps.actor.getSnapshot();
      if (!snapshot.can(event)) {
        const { provisioned, maxRequestedPeers, forgetFailedMs } = snapshot.context;
        if (!provisioned) return refuse('NotAllowed', 'this BMC is not provisioned: call ProvisionPeer("self") first');
        return refuse(
          'TooManyResources',
          `already ${maxRequestedPeers} peers known through ProvisionPeer alone (max_requested_peers); a failed one is forgotten ${forgetFailedMs / 1000} s after its attestation failed`,
        );
      }
      log.info('attestation requested', { peer: check.id });
      deps.actor.send(event);
      return;
    }
    const requestId = randomUUID();
    const answered = new Promise<SelfProvisionResult>((resolve) => this.waiters.set(requestId, resolve));
    // The issuance, then persisting the flag: both within the one deadline the caller is promised.
    const finished = answered.then(async (result): Promise<SelfOutcome> => {
      if (!result.ok) return result;
      try {
        await deps.beforeSelfReply();
        return { ok: true };
      } catch (err) {
        return { ok: false, failure: { code: STATE_WRITE, message: `the certificates were issued, but the state file could not be written: ${errorFirstLine(err)}` } };
      }
    });
    log.info('self provisioning requested');
    deps.actor.send({ type: 'PROVISION_SELF', requestId });
    let outcome: SelfOutcome;
    try {
      outcome = await withTimeout(finished, deps.selfDeadlineMs, 'ProvisionPeer("self")');
    } catch (err) {
      this.waiters.delete(requestId);
      throw new dbus.DBusError(CommonError.Timeout, errorFirstLine(err));
    }
    if (!outcome.ok) {
      log.error(`self provisioning failed: ${outcome.failure.message}`, { code: outcome.failure.code });
      throw dbusErrorFor(outcome.failure);
    }
    log.info('self provisioning done');
  }
}

ProvisioningInterface.configureMembers({
  properties: {
    peerConnected: { signature: 's', access: ACCESS_READ },
    provisioned: { signature: 'b', access: ACCESS_READ },
    clockPlausible: { signature: 'b', access: ACCESS_READ },
  },
  methods: {
    ProvisionPeer: { inSignature: 's', outSignature: '' },
  },
});

/**
 * Exports the object on a connection that owns the well-known name already: the daemon claims it
 * before its start reads the disk (src/dbus/bus-name-claim.ts), and the bus daemon never takes it
 * away while the connection lives (it is owned without ALLOW_REPLACEMENT), so there is nothing
 * more to ask the bus for.
 */
export function exportProvisioningService(deps: ProvisioningServiceDeps): ProvisioningService {
  const iface = new ProvisioningInterface(PROVISIONING_INTERFACE);
  iface.deps = deps;
  iface.props = deps.initial;
  const refusals = throttleWarnings({ log: deps.log });
  iface.refusals = refusals;
  const unsubscribe = deps.actor.on('selfProvisionResult', (result) => {
    for (const id of result.requestIds) {
      const resolve = iface.waiters.get(id);
      iface.waiters.delete(id);
      resolve?.(result);
    }
  });
  deps.bus.export(PROVISIONING_PATH, iface);
  return {
    publish(props) {
      const before = iface.props;
      iface.props = props;
      const changed: Partial<Record<keyof DbusProperties, unknown>> = {};
      if (before?.provisioned !== props.provisioned) changed.provisioned = props.provisioned;
      if (before?.peerConnected !== props.peerConnected) changed.peerConnected = props.peerConnected;
      if (before?.clockPlausible !== props.clockPlausible) changed.clockPlausible = props.clockPlausible;
      if (before && Object.keys(changed).length) {
        Interface.emitPropertiesChanged(iface, changed, []);
        deps.log.info(`D-Bus properties changed: ${JSON.stringify(changed)}`);
      }
    },
    stopServing(why) {
      iface.stopping ??= why;
      const failure = { code: NOT_SERVING, message: `${NOT_SERVING}: ${iface.stopping}` };
      for (const [id, resolve] of [...iface.waiters]) {
        iface.waiters.delete(id);
        resolve({ type: 'selfProvisionResult', requestIds: [id], ok: false, failure });
      }
    },
    async close() {
      unsubscribe.unsubscribe();
      refusals.close();
      try {
        await withTimeout(deps.bus.releaseName(PROVISIONING_SERVICE), deps.busCallTimeoutMs, 'ReleaseName');
      } finally {
        // The per-peer objects' ObjectManager shares this path, and dbus-next removes the whole
        // object when one of its interfaces is unexported: ours may be gone already.
        try {
          deps.bus.unexport(PROVISIONING_PATH, iface);
        } catch {
          // Already unexported with the ObjectManager: nothing left to do.
        }
      }
    },
  };
}
