import { isIP } from 'node:net';
import dbus from 'dbus-next';
import { checkDeviceId } from '../../machines/device-id.ts';
import { CommonError } from '../dbus/names.ts';
import type { Logger } from '../log.ts';
import { withTimeout } from '../util/with-timeout.ts';
import type { AttestationOutcome, AttestDevice } from './attestation-outcome.ts';
import {
  ATTESTATION_SERVICE,
  DEVICE_INTERFACE,
  DEVICES_INTERFACE,
  REQUESTER_ROOT,
  RESPONDER_INTERFACE,
  requesterPath,
  responderPath,
} from './names.ts';

const { Interface, ACCESS_READ } = dbus.interface;

/** The values of a requester object's `status` property. */
export type DeviceStatus = 'NotAttested' | 'Attesting' | 'Attested' | 'Failed';

/** What the D-Bus service is built from. */
export interface AttestationServiceDeps {
  readonly bus: dbus.MessageBus;
  readonly log: Logger;
  readonly attest: AttestDevice;
  readonly maxDevices: number;
  readonly busCallTimeoutMs: number;
}

/** The exported service: report responder sessions; close() releases the name. */
export interface AttestationService {
  /**
   * A requester finished (completed) or abandoned an attestation of this BMC: Attested(b) on the
   * responder object of its address (made by a completed session only).
   */
  responderSession(e: { remoteAddress: string; remotePort: number; completed: boolean; reason?: string }): void;
  /** The requester objects' paths by device id (tests, logs). */
  devices(): ReadonlyMap<string, string>;
  close(): Promise<void>;
}

/** One requester object: `/xyz/openbmc_project/attestation_requester/devices/tcp/<id>`. */
class DeviceInterface extends Interface {
  // Plain fields: dbus-next may call property getters on the prototype, before construction.
  id = '';
  ip = '';
  port = '';
  state: DeviceStatus = 'NotAttested';
  failure = '';
  ca = '';
  subject = '';
  running: Promise<void> | undefined;
  run: (() => Promise<void>) | undefined;

  get remote_ip(): string {
    return this.ip ?? '';
  }
  get remote_port(): string {
    return this.port ?? '';
  }
  get status(): string {
    return this.state ?? 'NotAttested';
  }
  get last_failure(): string {
    return this.failure ?? '';
  }
  get provisioning_ca(): string {
    return this.ca ?? '';
  }
  get device_subject(): string {
    return this.subject ?? '';
  }

  /** Starts an attestation unless one is running; the verdict arrives as Attested(b). */
  attest(): void {
    if (this.running || !this.run) return;
    this.running = this.run().finally(() => (this.running = undefined));
  }

  Attested(ok: boolean): boolean {
    return ok;
  }
}

DeviceInterface.configureMembers({
  properties: {
    remote_ip: { signature: 's', access: ACCESS_READ },
    remote_port: { signature: 's', access: ACCESS_READ },
    status: { signature: 's', access: ACCESS_READ },
    last_failure: { signature: 's', access: ACCESS_READ },
    provisioning_ca: { signature: 's', access: ACCESS_READ },
    device_subject: { signature: 's', access: ACCESS_READ },
  },
  methods: { attest: { inSignature: '', outSignature: '' } },
  signals: { Attested: { signature: 'b' } },
});

/** The object that makes requester objects: `AddDevice(s id, s remote_ip, s remote_port) → o`. */
class DevicesInterface extends Interface {
  add: ((id: string, ip: string, port: string) => string) | undefined;

  AddDevice(id: string, ip: string, port: string): string {
    if (!this.add) throw new dbus.DBusError(CommonError.Unavailable, 'service is starting');
    return this.add(id, ip, port);
  }
}

DevicesInterface.configureMembers({
  methods: { AddDevice: { inSignature: 'sss', outSignature: 'o' } },
});

/** One responder object per requesting address: `/xyz/openbmc_project/attestation_responder/tcp/<address>`. */
class ResponderInterface extends Interface {
  ip = '';
  port = '';

  get remote_ip(): string {
    return this.ip ?? '';
  }
  get remote_port(): string {
    return this.port ?? '';
  }

  Attested(ok: boolean): boolean {
    return ok;
  }
}

ResponderInterface.configureMembers({
  properties: {
    remote_ip: { signature: 's', access: ACCESS_READ },
    remote_port: { signature: 's', access: ACCESS_READ },
  },
  signals: { Attested: { signature: 'b' } },
});

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Exports the attestation objects, then owns `xyz.openbmc_project.attestation`. */
export async function exportAttestationService(deps: AttestationServiceDeps): Promise<AttestationService> {
  const { bus, log } = deps;
  const devices = new Map<string, { path: string; iface: DeviceInterface }>();
  const responders = new Map<string, ResponderInterface>();

  const publish = (iface: DeviceInterface, outcome: AttestationOutcome) => {
    iface.state = outcome.ok ? 'Attested' : 'Failed';
    iface.failure = outcome.ok ? '' : `${outcome.code}: ${outcome.reason}`;
    iface.ca = outcome.ok ? outcome.caPem : '';
    iface.subject = outcome.ok ? outcome.deviceSubject : '';
    Interface.emitPropertiesChanged(
      iface,
      { status: iface.state, last_failure: iface.failure, provisioning_ca: iface.ca, device_subject: iface.subject },
      [],
    );
    // The properties hold the verdict before the signal announces it.
    iface.Attested(outcome.ok);
  };

  const runFor = (iface: DeviceInterface) => async () => {
    const port = parsePort(iface.port) ?? 0;
    iface.state = 'Attesting';
    Interface.emitPropertiesChanged(iface, { status: iface.state }, []);
    const where = `${iface.ip}:${iface.port}`;
    log.info(`attesting ${iface.id} (${where})`, { peer: iface.id, event: 'ATTEST_START' });
    let outcome: AttestationOutcome;
    try {
      outcome = await deps.attest({ id: iface.id, host: iface.ip, port });
    } catch (err) {
      outcome = { ok: false, code: 'INTERNAL', reason: err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err) };
    }
    if (outcome.ok) {
      log.info(`attested ${iface.id} (${where}): provisioning CA ${outcome.caFingerprint}`, { peer: iface.id, event: 'ATTESTED' });
    } else {
      log.warn(`attestation of ${iface.id} (${where}) failed: ${outcome.code}: ${outcome.reason}`, {
        peer: iface.id,
        event: 'ATTESTATION_FAILED',
        code: outcome.code,
        reason: outcome.reason,
      });
    }
    publish(iface, outcome);
  };

  const addDevice = (id: string, ip: string, portText: string): string => {
    const check = checkDeviceId(id);
    if (check.kind !== 'peer') {
      throw new dbus.DBusError(CommonError.InvalidArgument, check.kind === 'invalid' ? check.reason : '"self" is not a device');
    }
    if (isIP(ip) === 0) throw new dbus.DBusError(CommonError.InvalidArgument, `remote_ip "${ip}" is not an IP address`);
    if (parsePort(portText) === undefined) throw new dbus.DBusError(CommonError.InvalidArgument, `remote_port "${portText}" is not a TCP port`);
    const known = devices.get(id);
    if (known) {
      if (known.iface.ip !== ip || known.iface.port !== portText) {
        known.iface.ip = ip;
        known.iface.port = portText;
        Interface.emitPropertiesChanged(known.iface, { remote_ip: ip, remote_port: portText }, []);
        log.info(`device ${id} now at ${ip}:${portText}`, { peer: id });
      }
      return known.path;
    }
    if (devices.size >= deps.maxDevices) {
      throw new dbus.DBusError(CommonError.NotAllowed, `at most ${deps.maxDevices} devices (max_devices)`);
    }
    const iface = new DeviceInterface(DEVICE_INTERFACE);
    iface.id = id;
    iface.ip = ip;
    iface.port = portText;
    iface.run = runFor(iface);
    const path = requesterPath(id);
    bus.export(path, iface);
    devices.set(id, { path, iface });
    log.info(`device ${id} at ${ip}:${portText} is ${path}`, { peer: id, event: 'DEVICE_ADDED' });
    return path;
  };

  const manager = new DevicesInterface(DEVICES_INTERFACE);
  manager.add = addDevice;
  bus.export(REQUESTER_ROOT, manager);

  const reply = await withTimeout(
    bus.requestName(ATTESTATION_SERVICE, dbus.NameFlag.DO_NOT_QUEUE),
    deps.busCallTimeoutMs,
    `RequestName ${ATTESTATION_SERVICE}`,
  );
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
    bus.unexport(REQUESTER_ROOT, manager);
    throw new Error(`cannot own ${ATTESTATION_SERVICE}: another process owns it (reply ${reply})`);
  }

  /**
   * The responder object of `remoteAddress`, made for a completed session only (a connection that
   * never got signed measurements, which anybody can open, gets none), and moved to the end of
   * `responders`: the first one is the least recently reported, removed when a new one would
   * exceed maxDevices, so a flood of addresses can never stop a later peer's Attested(true).
   */
  const responderFor = (remoteAddress: string, completed: boolean): ResponderInterface | undefined => {
    const path = responderPath(remoteAddress);
    const known = responders.get(path);
    if (known) {
      responders.delete(path);
      responders.set(path, known);
      return known;
    }
    if (!completed) return undefined;
    for (const [oldest, iface] of responders) {
      if (responders.size < deps.maxDevices) break;
      bus.unexport(oldest, iface);
      responders.delete(oldest);
      log.debug(`responder object of ${iface.ip} removed: at most ${deps.maxDevices} (max_devices), it was reported least recently`);
    }
    const iface = new ResponderInterface(RESPONDER_INTERFACE);
    iface.ip = remoteAddress;
    bus.export(path, iface);
    responders.set(path, iface);
    return iface;
  };

  return {
    responderSession(e) {
      const iface = responderFor(e.remoteAddress, e.completed);
      if (!iface) return;
      iface.port = String(e.remotePort);
      // remote_ip comes along although it never changes for this object: a watcher learns who
      // attested us from this one signal, without a GetAll.
      Interface.emitPropertiesChanged(iface, { remote_ip: iface.ip, remote_port: iface.port }, []);
      iface.Attested(e.completed);
    },
    devices: () => new Map([...devices].map(([id, d]) => [id, d.path])),
    async close() {
      try {
        await withTimeout(bus.releaseName(ATTESTATION_SERVICE), deps.busCallTimeoutMs, 'ReleaseName');
      } finally {
        bus.unexport(REQUESTER_ROOT, manager);
        for (const d of devices.values()) bus.unexport(d.path, d.iface);
        for (const [path, iface] of responders) bus.unexport(path, iface);
      }
    },
  };
}
