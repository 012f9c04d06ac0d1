/**
 * The D-Bus adapter's answers that depend on timing, made deterministic, against a real
 * dbus-daemon with the real busName actor, adapter and daemon machine:
 * - a ProvisionPeer call can reach the object before the bus name is owned (the object is exported
 *   first, and a caller may use the unique name): it waits until the machine knows, and is always
 *   answered: NOT_SERVING when the name is refused or the daemon stops first, and at the latest
 *   after the bus call timeout;
 * - ProvisionPeer("self") is answered within its one deadline, persisting the flag included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dbus from 'dbus-next';
import { createActor, fromCallback, fromPromise } from 'xstate';
import type { IssueSummary } from '../../machines/events.ts';
import { provisioningMachine, type ProvisioningActor } from '../../machines/provisioning.machine.ts';
import { createBusNameActor } from '../../src/actors/bus-name.actor.ts';
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

  /**
   * ProvisionPeer("self") sent by the connection to itself, before anything is exported: the bus
   * routes one sender's messages in order, so the call comes back before the reply to a
   * RequestName sent after it, deterministically inside the window this is about.
   */
  const callOwnObject = (conn: DaemonConnection) =>
    conn.bus.call(
      new dbus.Message({
        destination: conn.name,
        path: PROVISIONING_PATH,
        interface: PROVISIONING_INTERFACE,
        member: 'ProvisionPeer',
        signature: 's',
        body: ['self'],
      }),
    );

  /** The daemon's busName actor on `conn`, with a real (not started) daemon machine as its root. */
  const busNameActor = (conn: BusConnection) => {
    const root = createActor(provisioningMachine, { input: daemonInput({ ownsBusName: false }) });
    const released = new Settling();
    const actor = createActor(
      createBusNameActor({
        conn,
        log: captureLog().log,
        busCallTimeoutMs: 10_000,
        closing: new Settling(),
        ownName: 'bmc-ready',
        selfDeadlineMs: 10_000,
        root: () => root,
        slot: { current: undefined },
        beforeSelfReply: async () => undefined,
        closeLast: async () => undefined,
        released,
      }),
    );
    return { actor, released };
  };

  /** The adapter alone on `conn`, serving `root`; what a test does not give is the daemon's (ready at once). */
  const exportService = (o: { conn: BusConnection; root: ProvisioningActor } & Partial<Pick<ProvisioningServiceDeps, 'selfDeadlineMs' | 'beforeSelfReply' | 'busCallTimeoutMs' | 'ready'>>) =>
    exportProvisioningService({
      bus: o.conn.bus,
      actor: o.root,
      log: captureLog().log,
      ownName: 'bmc-ready',
      selfDeadlineMs: o.selfDeadlineMs ?? 10_000,
      beforeSelfReply: o.beforeSelfReply ?? (async () => undefined),
      busCallTimeoutMs: o.busCallTimeoutMs ?? 10_000,
      initial: selectPublishedProperties(o.root.getSnapshot()),
      ready: o.ready ?? Promise.resolve(),
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

  it('the name is refused (another process owns it): NOT_SERVING with the reason', async () => {
    const owner = await connect();
    const owned = await withTimeout(owner.bus.requestName(PROVISIONING_SERVICE, dbus.NameFlag.DO_NOT_QUEUE), ANSWER_DEADLINE_MS, 'RequestName');
    assert.equal(owned, dbus.RequestNameReply.PRIMARY_OWNER);
    const late = await connect();
    const call = callOwnObject(late);
    const { actor, released } = busNameActor(late);
    actor.start();
    try {
      const answer = await answerOf(call);
      assert.equal(answer.name, CommonError.Unavailable);
      assert.match(answer.text, /^NOT_SERVING: the bus name could not be owned: cannot own xyz\.openbmc_project\.Provisioning: another process owns it/);
    } finally {
      actor.stop();
      await withTimeout(released.settled(), ANSWER_DEADLINE_MS, 'the busName actor going out');
      await withTimeout(owner.bus.releaseName(PROVISIONING_SERVICE), ANSWER_DEADLINE_MS, 'ReleaseName');
    }
  });

  it('the daemon stops before it knows the name is owned: NOT_SERVING, and the name is released', async () => {
    const conn = await connect();
    const call = callOwnObject(conn);
    const { actor, released } = busNameActor(conn);
    actor.start();
    actor.stop();
    const answer = await answerOf(call);
    assert.equal(answer.name, CommonError.Unavailable);
    assert.equal(answer.text, 'NOT_SERVING: provisioningd is stopping');
    await withTimeout(released.settled(), ANSWER_DEADLINE_MS, 'the busName actor going out');
    const observer = await connect();
    const reply = await withTimeout(observer.bus.requestName(PROVISIONING_SERVICE, dbus.NameFlag.DO_NOT_QUEUE), ANSWER_DEADLINE_MS, 'RequestName');
    assert.equal(reply, dbus.RequestNameReply.PRIMARY_OWNER, 'released');
    await withTimeout(observer.bus.releaseName(PROVISIONING_SERVICE), ANSWER_DEADLINE_MS, 'ReleaseName');
  });

  it('the machine never says: the call is answered NOT_SERVING after the bus call timeout', async () => {
    const conn = await connect();
    const root = createActor(provisioningMachine, { input: daemonInput({ ownsBusName: false }) });
    const service = await exportService({ conn, root, busCallTimeoutMs: 500, ready: new Promise<void>(() => undefined) });
    try {
      const answer = await answerOf(callOwnObject(conn));
      assert.equal(answer.name, CommonError.Unavailable);
      assert.equal(answer.text, 'NOT_SERVING: waiting until the bus name is owned timed out after 500 ms');
    } finally {
      await withTimeout(service.close(), ANSWER_DEADLINE_MS, 'closing the service');
    }
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
    const service = await exportService({ conn, root, selfDeadlineMs: 1000, beforeSelfReply: () => new Promise<void>(() => undefined) });
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
