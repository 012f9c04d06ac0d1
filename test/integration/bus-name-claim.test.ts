/**
 * provisioningd owns its name before it reads its state (the name is its lock), so a client may
 * call between the name appearing and the object being exported: against a real dbus-daemon, such
 * a call is held and answered by the object once it is exported, or refused with NOT_SERVING, never
 * answered UnknownObject or from a state not read yet; a second claim of the name is refused, and
 * nobody can take the name from its owner afterwards (so the daemon never asks for it again).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dbus from 'dbus-next';
import { nameOwner } from '../../src/dbus/bus-call.ts';
import { BusNameTakenError, claimBusName } from '../../src/dbus/bus-name-claim.ts';
import { CommonError, PROVISIONING_INTERFACE, PROVISIONING_PATH, PROVISIONING_SERVICE } from '../../src/dbus/names.ts';
import type { BusConnection } from '../../src/dbus/system-bus.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';
import { useDaemonConnections } from '../harness/daemon-connections.ts';

/** Hang protection for what the code under test must answer by itself. */
const ANSWER_DEADLINE_MS = 30_000;
const CLAIM = { name: PROVISIONING_SERVICE, timeoutMs: 10_000 };

class ProvisionedOnly extends dbus.interface.Interface {
  get provisioned(): boolean {
    return true;
  }
}
ProvisionedOnly.configureMembers({ properties: { provisioned: { signature: 'b', access: dbus.interface.ACCESS_READ } } });

describe('the bus name claim holds calls until the service is exported', () => {
  const { connect } = useDaemonConnections();

  /** `provisioned` read from the claimed name; resolves once the call has reached the owner (it is held from then on). */
  const readProvisioned = async (o: { client: BusConnection; owner: BusConnection }) => {
    const arrived = new Promise<void>((resolve) => {
      const seen = (m: dbus.Message) => {
        if (m.member !== 'Get') return;
        o.owner.bus.off('message', seen);
        resolve();
      };
      o.owner.bus.on('message', seen);
    });
    const reply = o.client.bus
      .call(
        new dbus.Message({
          destination: PROVISIONING_SERVICE,
          path: PROVISIONING_PATH,
          interface: 'org.freedesktop.DBus.Properties',
          member: 'Get',
          signature: 'ss',
          body: [PROVISIONING_INTERFACE, 'provisioned'],
        }),
      )
      .then(
        (m) => ({ value: (m?.body[0] as dbus.Variant | undefined)?.value as unknown }),
        (err: unknown) => ({ error: err instanceof dbus.DBusError ? { name: err.type, text: err.text } : String(err) }),
      );
    // The owner's bus emits 'message' before it dispatches the call: from here on the gate has it.
    await withTimeout(arrived, ANSWER_DEADLINE_MS, 'the call reaching the name owner');
    return () => withTimeout(reply, ANSWER_DEADLINE_MS, 'the answer to Get');
  };

  it('a call made before the object is exported is answered by the object once the claim opens', async () => {
    const owner = await connect();
    const claim = await claimBusName({ bus: owner.bus, ...CLAIM, holdMs: ANSWER_DEADLINE_MS });
    const answer = await readProvisioned({ client: await connect(), owner });
    // Without the gate dbus-next would have answered UnknownObject at once; the object comes only now.
    const iface = new ProvisionedOnly(PROVISIONING_INTERFACE);
    owner.bus.export(PROVISIONING_PATH, iface);
    claim.open();
    assert.deepEqual(await answer(), { value: true });
    const later = await readProvisioned({ client: await connect(), owner });
    assert.deepEqual(await later(), { value: true }, 'later calls go to the object directly');
    owner.bus.unexport(PROVISIONING_PATH, iface);
    await withTimeout(owner.bus.releaseName(PROVISIONING_SERVICE), ANSWER_DEADLINE_MS, 'ReleaseName');
  });

  it('a start that fails: the held calls, and later ones, are refused with NOT_SERVING and the reason', async () => {
    const owner = await connect();
    const claim = await claimBusName({ bus: owner.bus, ...CLAIM, holdMs: ANSWER_DEADLINE_MS });
    const client = await connect();
    const answer = await readProvisioned({ client, owner });
    claim.refuse('provisioningd did not start: STATE_FILE_CORRUPT');
    const refused = { error: { name: CommonError.Unavailable, text: 'NOT_SERVING: provisioningd did not start: STATE_FILE_CORRUPT' } };
    assert.deepEqual(await answer(), refused);
    const later = await readProvisioned({ client, owner });
    assert.deepEqual(await later(), refused);
    await withTimeout(owner.bus.releaseName(PROVISIONING_SERVICE), ANSWER_DEADLINE_MS, 'ReleaseName');
  });

  it('a start that takes longer than holdMs: the held call is refused with NOT_SERVING, not left waiting', async () => {
    const owner = await connect();
    await claimBusName({ bus: owner.bus, ...CLAIM, holdMs: 100 });
    const answer = await readProvisioned({ client: await connect(), owner });
    const got = await answer();
    assert.deepEqual(got, {
      error: { name: CommonError.Unavailable, text: `NOT_SERVING: ${PROVISIONING_SERVICE} is still starting after 100 ms; call again` },
    });
    await withTimeout(owner.bus.releaseName(PROVISIONING_SERVICE), ANSWER_DEADLINE_MS, 'ReleaseName');
  });

  it('a second claim of an owned name fails with BusNameTakenError; the owner keeps it', async () => {
    const owner = await connect();
    const claim = await claimBusName({ bus: owner.bus, ...CLAIM, holdMs: ANSWER_DEADLINE_MS });
    const second = await connect();
    await assert.rejects(claimBusName({ bus: second.bus, ...CLAIM, holdMs: ANSWER_DEADLINE_MS }), (err: unknown) => {
      assert.ok(err instanceof BusNameTakenError, String(err));
      assert.equal(err.message, `cannot own ${PROVISIONING_SERVICE}: another process owns it (reply ${dbus.RequestNameReply.EXISTS})`);
      return true;
    });
    const iface = new ProvisionedOnly(PROVISIONING_INTERFACE);
    owner.bus.export(PROVISIONING_PATH, iface);
    claim.open();
    const answer = await readProvisioned({ client: second, owner });
    assert.deepEqual(await answer(), { value: true }, 'the owner answers');
    owner.bus.unexport(PROVISIONING_PATH, iface);
    await withTimeout(owner.bus.releaseName(PROVISIONING_SERVICE), ANSWER_DEADLINE_MS, 'ReleaseName');
  });

  it('nobody takes a claimed name away, whatever flags it asks with: the owner keeps it and hears no NameLost', async () => {
    const owner = await connect();
    const lost: unknown[] = [];
    owner.bus.on('message', (m: dbus.Message) => {
      if (m.interface === 'org.freedesktop.DBus' && m.member === 'NameLost') lost.push(m.body[0]);
    });
    await claimBusName({ bus: owner.bus, ...CLAIM, holdMs: ANSWER_DEADLINE_MS });
    const { REPLACE_EXISTING, ALLOW_REPLACEMENT, DO_NOT_QUEUE } = dbus.NameFlag;
    const rival = await connect();
    for (const flags of [REPLACE_EXISTING, REPLACE_EXISTING | ALLOW_REPLACEMENT, REPLACE_EXISTING | DO_NOT_QUEUE]) {
      const reply = await withTimeout(rival.bus.requestName(PROVISIONING_SERVICE, flags), ANSWER_DEADLINE_MS, 'the rival RequestName');
      assert.notEqual(reply, dbus.RequestNameReply.PRIMARY_OWNER, `flags ${flags}: the rival did not get the name`);
    }
    // The bus daemon queues a NameLost for the owner before it answers the rival; the reply to this
    // call from the owner comes after it: any NameLost has reached the owner by now.
    assert.equal(await nameOwner(owner.bus, PROVISIONING_SERVICE, ANSWER_DEADLINE_MS), owner.name, 'the claim still owns the name');
    assert.deepEqual(lost, [], 'no NameLost');
    await withTimeout(rival.bus.releaseName(PROVISIONING_SERVICE), ANSWER_DEADLINE_MS, 'the rival leaving the queue');
    await withTimeout(owner.bus.releaseName(PROVISIONING_SERVICE), ANSWER_DEADLINE_MS, 'ReleaseName');
  });
});
