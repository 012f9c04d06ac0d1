import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { brokerUnavailable } from './private-broker.ts';
import { privateBusesStarted, TEST_BUS_ENV } from './private-bus.ts';

/**
 * Runs a test file's tests again with every private bus a dbus-broker (OpenBMC's usual bus)
 * instead of dbus-daemon: `load` imports the file inside a suite named after it. The suite ends by
 * checking that its tests started only dbus-brokers, each of which reported its launcher's PID as
 * the bus's own; a helper that names its bus program (tpm2-abrmd's session bus) is not counted.
 * Where a private dbus-broker cannot run, one skipped test says why.
 */
export async function againOnDbusBroker(file: string, load: () => Promise<unknown>): Promise<void> {
  const title = `${file}, every private bus a dbus-broker`;
  const why = await brokerUnavailable();
  if (why) {
    it(title, { skip: why }, () => {});
    return;
  }
  process.env[TEST_BUS_ENV] = 'dbus-broker';
  describe(title, async () => {
    await load();
    it(`the private buses of ${file} were dbus-brokers`, () => {
      const started = privateBusesStarted();
      assert.ok(started['dbus-broker'] > 0, `no private dbus-broker was started: ${JSON.stringify(started)}`);
      assert.equal(started['dbus-daemon'], 0, `dbus-daemons were started too: ${JSON.stringify(started)}`);
    });
  });
}
