/**
 * attestationd's responder objects on a private bus, with requesters on several loopback source
 * addresses (127.0.0.x): a connection that never got signed measurements makes no object, so a
 * flood of addresses that merely connect occupies nothing; once `max_devices` objects exist, a new
 * completed session removes the one reported least recently instead of going unreported, and
 * provisioningd's responder watch (the attest-back trigger) hears every completed session.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import dbus from 'dbus-next';
import { ATTESTATION_SERVICE, RESPONDER_INTERFACE, RESPONDER_ROOT, responderPath } from '../../src/attestationd/names.ts';
import { watchResponderAttestations } from '../../src/attestation-client/responder-attestations.ts';
import { addMatch, signalRule } from '../../src/dbus/bus-call.ts';
import { createAttestationd, startAttestationd, type AttestationdSetup } from '../harness/attestationd.ts';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { captureLog } from '../harness/capture-log.ts';
import { busctl, eventually, type DaemonHandle } from '../harness/daemon.ts';
import { completeSignedMeasurements, GET_VERSION, SpdmRawClient } from '../harness/spdm-raw-client.ts';

const MAX_DEVICES = 2;
/** Hang protection on a loaded machine, not a timing claim. */
const DEADLINE_MS = 60_000;

describe("attestationd's responder objects", () => {
  const fixture = useBusFixture();
  let setup: AttestationdSetup;
  let daemon: DaemonHandle;
  /** Addresses provisioningd's responder watch reported as having attested this BMC. */
  const attestedBy: string[] = [];
  /** Attested(b) signals of responder objects, in order. */
  const signals: Array<{ path: string; ok: boolean }> = [];

  before(
    async () => {
      setup = await createAttestationd({ dir: fixture.tempDir('attd-responders-'), name: 'bmc-r', config: { max_devices: MAX_DEVICES } });
      daemon = await startAttestationd({ bus: fixture.bus(), setup });
      fixture.cleanup(() => daemon.stop());
      process.env['DBUS_SYSTEM_BUS_ADDRESS'] = fixture.bus().address;
      const client = dbus.systemBus();
      fixture.cleanup(() => client.disconnect());
      client.on('message', (msg) => {
        if (msg.type === dbus.MessageType.SIGNAL && msg.member === 'Attested' && msg.path?.startsWith(`${RESPONDER_ROOT}/`)) {
          signals.push({ path: msg.path, ok: msg.body[0] === true });
        }
      });
      await addMatch(client, signalRule({ sender: ATTESTATION_SERVICE, interface: RESPONDER_INTERFACE, member: 'Attested', path_namespace: RESPONDER_ROOT }), 10_000);
      const unwatch = await watchResponderAttestations({ bus: client, log: captureLog().log, busCallTimeoutMs: 10_000, onAttested: (a) => attestedBy.push(a) });
      fixture.cleanup(() => unwatch());
    },
    { timeout: 120_000 },
  );

  /** The responder objects attestationd exports now, by the address they are for. */
  async function responderObjects(): Promise<string[]> {
    const r = await busctl(fixture.bus(), '--list', 'tree', ATTESTATION_SERVICE);
    assert.equal(r.code, 0, r.stderr);
    const paths = r.stdout.split('\n').map((l) => l.trim()).filter((p) => p.startsWith(`${RESPONDER_ROOT}/`));
    return paths.map((p) => p.slice(RESPONDER_ROOT.length + 1).replace(/_([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))).sort();
  }

  /** A requester at `address` that says GET_VERSION and hangs up; resolves once attestationd logged the session. */
  async function abandon(address: string): Promise<void> {
    const c = await SpdmRawClient.open({ port: setup.spdmPort, localAddress: address });
    const from = `${address.replaceAll('.', '\\.')}:${c.socket.localPort ?? 0}`;
    try {
      assert.equal((await c.ask(GET_VERSION))[1], 0x04, 'VERSION');
    } finally {
      c.close();
    }
    assert.ok(await daemon.waitForOutput(new RegExp(`attestation by ${from} ended early`), DEADLINE_MS), daemon.output());
  }

  /** A requester at `address` that gets signed measurements; resolves once provisioningd's watch heard it. */
  async function complete(address: string): Promise<void> {
    const heard = attestedBy.filter((a) => a === address).length;
    const c = await SpdmRawClient.open({ port: setup.spdmPort, localAddress: address });
    try {
      await completeSignedMeasurements(c);
    } finally {
      c.close();
    }
    assert.ok(
      await eventually(() => attestedBy.filter((a) => a === address).length > heard, DEADLINE_MS),
      `provisioningd's watch did not hear that ${address} attested us: ${JSON.stringify(attestedBy)}\n${daemon.output()}`,
    );
  }

  it('connections that never got signed measurements make no object, however many addresses they come from', async () => {
    for (let i = 11; i <= 16; i++) await abandon(`127.0.0.${i}`);
    assert.deepEqual(await responderObjects(), []);
    assert.deepEqual(signals, [], 'no Attested signal either: there is no object to send it on');
  });

  it(`after that, every completed session is reported; beyond max_devices (${MAX_DEVICES}) the least recently reported object goes`, async () => {
    for (const address of ['127.0.0.21', '127.0.0.22', '127.0.0.23']) await complete(address);
    assert.deepEqual(await responderObjects(), ['127.0.0.22', '127.0.0.23'], 'the first one was removed for the third');
    // .22 reports again (an early end is Attested(false) on its object): .23 is now the least recent.
    await abandon('127.0.0.22');
    assert.ok(await eventually(() => signals.some((s) => s.path === responderPath('127.0.0.22') && !s.ok), DEADLINE_MS), JSON.stringify(signals));
    await complete('127.0.0.24');
    assert.deepEqual(await responderObjects(), ['127.0.0.22', '127.0.0.24']);
    assert.deepEqual(attestedBy, ['127.0.0.21', '127.0.0.22', '127.0.0.23', '127.0.0.24'], 'attest-back hears every peer that attested us');
    assert.equal(daemon.process.exitCode, null, 'attestationd kept running');
  });
});
