/**
 * The D-Bus adapter's answers that depend on timing, made deterministic, against a real
 * dbus-daemon with the real busName actor, adapter and daemon machine:
 * - the busName actor serves the name the claim owns without asking the bus for it again, and from
 *   the daemon's stop on ProvisionPeer is answered NOT_SERVING (a call waiting for its issuance
 *   too) while the name is still owned; the name is released last;
 * - ProvisionPeer("self") is answered within its one deadline, persisting the flag included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dbus from 'dbus-next';
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import type { IssueRequest, IssueSummary } from '../../machines/events.ts';
import { provisioningMachine, type ProvisioningActor } from '../../machines/provisioning.machine.ts';
import { createBusNameActor } from '../../src/actors/bus-name.actor.ts';
import { nameOwner } from '../../src/dbus/bus-call.ts';
import { claimBusName } from '../../src/dbus/bus-name-claim.ts';
import { CommonError, PROVISIONING_INTERFACE, PROVISIONING_PATH, PROVISIONING_SERVICE } from '../../src/dbus/names.ts';
import { exportProvisioningService, type ProvisioningServiceDeps } from '../../src/dbus/provisioning-service.ts';
import type { BusConnection } from '../../src/dbus/system-bus.ts';
import { Settling } from '../../src/util/settling.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { selectPublishedProperties } from '../../machines/dbus-properties.ts';
import { captureLog } from '../harness/capture-log.ts';
import { useDaemonConnections, type DaemonConnection } from '../harness/daemon-connections.ts';
import { daemonInput } from '../harness/daemon-input.ts';
import { quietEffects } from '../harness/quiet-effects.ts';

/** Hang protection for what the code under test must answer by itself. */
const ANSWER_DEADLINE_MS = 30_000;

describe('ProvisionPeer is always answered, within its deadline', () => {
  const { connect } = useDaemonConnections();

  /** ProvisionPeer(`id`) sent by `from` to `to` (a unique name, or the well-known one). */
  const callProvisionPeer = (o: { from: DaemonConnection; to: string; id: string }) =>
    o.from.bus.call(
      new dbus.Message({
        destination: o.to,
        path: PROVISIONING_PATH,
        interface: PROVISIONING_INTERFACE,
        member: 'ProvisionPeer',
        signature: 's',
        body: [o.id],
      }),
    );

  /** ProvisionPeer("self") sent by the connection to itself. */
  const callOwnObject = (conn: DaemonConnection) => callProvisionPeer({ from: conn, to: conn.name, id: 'self' });

  /**
   * The real daemon machine on `conn`, as startDaemon runs it: the name claimed first, then the
   * machine started not owning it, with the real busName actor; the issuance never ends, and the
   * way out stops before the name is released until `letGo()`.
   */
  const daemonOn = async (conn: BusConnection) => {
    const claim = await claimBusName({ bus: conn.bus, name: PROVISIONING_SERVICE, timeoutMs: 10_000, holdMs: ANSWER_DEADLINE_MS });
    const released = new Settling();
    let letGo: () => void = () => undefined;
    const lastClose = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    const root: ProvisioningActor = createActor(
      provisioningMachine.provide({
        actors: {
          ...quietEffects,
          busName: createBusNameActor({
            conn,
            log: captureLog().log,
            busCallTimeoutMs: 10_000,
            closing: new Settling(),
            ownName: 'bmc-ready',
            selfDeadlineMs: ANSWER_DEADLINE_MS,
            root: () => root,
            slot: { current: undefined },
            beforeSelfReply: async () => undefined,
            closeLast: () => lastClose,
            released,
          }),
          issueCertificates: fromPromise<IssueSummary, IssueRequest>(() => new Promise<IssueSummary>(() => undefined)),
        },
      }),
      { input: daemonInput({ ownsBusName: false }) },
    );
    return { claim, root, released, letGo };
  };

  /** The adapter alone on `conn`, serving `root`; what a test does not give is the daemon's. */
  const exportService = (o: { conn: BusConnection; root: ProvisioningActor } & Partial<Pick<ProvisioningServiceDeps, 'selfDeadlineMs' | 'beforeSelfReply'>>) =>
    exportProvisioningService({
      bus: o.conn.bus,
      actor: o.root,
      log: captureLog().log,
      ownName: 'bmc-ready',
      selfDeadlineMs: o.selfDeadlineMs ?? 10_000,
      beforeSelfReply: o.beforeSelfReply ?? (async () => undefined),
      busCallTimeoutMs: 10_000,
      initial: selectPublishedProperties(o.root.getSnapshot()),
    });

  /** What the call was answered: the D-Bus error name and text. */
  const answerOf = async (call: Promise<unknown>) => {
    try {
      await withTimeout(call, ANSWER_DEADLINE_MS, 'the answer to ProvisionPeer');
    } catch (err) {
      if (err instanceof dbus.DBusError) return { name: err.type, text: err.text };
      throw err;
    }
    return { name: 'none: the call succeeded', text: '' };
  };

  it('the busName actor serves the claimed name at once; from the stop on ProvisionPeer is NOT_SERVING; the name goes last', async () => {
    const conn = await connect();
    const client = await connect();
    const { claim, root, released, letGo } = await daemonOn(conn);
    root.start();
    try {
      // Synchronously: the actor asks the bus daemon nothing (a RequestName would need a round trip first).
      assert.equal(root.getSnapshot().context.ownsBusName, true, 'BUS_NAME_OWNED as the machine starts');
      assert.ok(root.getSnapshot().matches({ self: 'NotProvisioned' }), JSON.stringify(root.getSnapshot().value));
      claim.open();
      // A ProvisionPeer("self") in flight when the daemon stops: its issuance never ends.
      const inFlight = answerOf(callProvisionPeer({ from: client, to: PROVISIONING_SERVICE, id: 'self' }));
      await waitFor(root, (s) => s.context.pendingSelfRequests.length > 0, { timeout: ANSWER_DEADLINE_MS });
      root.stop();
      assert.deepEqual(await inFlight, { name: CommonError.Unavailable, text: 'NOT_SERVING: provisioningd is stopping' });
      // The way out is held before the release: the name is still this connection's, and says so.
      assert.equal(await nameOwner(client.bus, PROVISIONING_SERVICE, ANSWER_DEADLINE_MS), conn.name, 'still owned while the way out runs');
      const later = await answerOf(callProvisionPeer({ from: client, to: PROVISIONING_SERVICE, id: 'bmc-b' }));
      assert.deepEqual(later, { name: CommonError.Unavailable, text: 'NOT_SERVING: provisioningd is stopping' });
    } finally {
      root.stop();
      letGo();
      await withTimeout(released.settled(), ANSWER_DEADLINE_MS, 'the busName actor going out');
    }
    const observer = await connect();
    const reply = await withTimeout(observer.bus.requestName(PROVISIONING_SERVICE, dbus.NameFlag.DO_NOT_QUEUE), ANSWER_DEADLINE_MS, 'RequestName');
    assert.equal(reply, dbus.RequestNameReply.PRIMARY_OWNER, 'released');
    await withTimeout(observer.bus.releaseName(PROVISIONING_SERVICE), ANSWER_DEADLINE_MS, 'ReleaseName');
  });

  it('ProvisionPeer("self") whose state file write never ends is answered Timeout within its one deadline', async () => {
    const conn = await connect();
    const summary: IssueSummary = { caFingerprint: 'ab12', leafNotBefore: 0, leafNotAfter: 86_400_000, leafLifetimeMs: 86_400_000, generation: 1 };
    // The real daemon machine with an issuer that succeeds at once; only the write before the reply hangs.
    const root = createActor(
      provisioningMachine.provide({
        actors: { ...quietEffects, issueCertificates: fromPromise(async () => summary), tlsResponder: fromCallback(() => () => undefined) },
      }),
      { input: daemonInput() },
    );
    root.start();
    const service = exportService({ conn, root, selfDeadlineMs: 1000, beforeSelfReply: () => new Promise<void>(() => undefined) });
    try {
      const answer = await answerOf(callOwnObject(conn));
      assert.ok(root.getSnapshot().matches({ self: 'Provisioned' }), 'the issuance itself succeeded');
      assert.equal(answer.name, CommonError.Timeout);
      assert.equal(answer.text, 'ProvisionPeer("self") timed out after 1000 ms');
    } finally {
      root.stop();
      await withTimeout(service.close(), ANSWER_DEADLINE_MS, 'closing the service');
    }
  });
});
