import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createActor } from 'xstate';
import { provisioningMachine } from '../../machines/provisioning.machine.ts';
import { daemonHealth } from '../../src/metrics/daemon-metrics-server.ts';
import { daemonInput } from '../harness/daemon-input.ts';
import { quietEffects } from '../harness/quiet-effects.ts';

describe('/healthz', () => {
  it('is healthy only while the bus name is owned and the statechart runs', () => {
    const actor = createActor(provisioningMachine.provide({ actors: quietEffects }), { input: daemonInput({}) });
    assert.deepEqual(daemonHealth({ owned: false }), { ok: false, reason: 'starting' });
    actor.start();
    assert.equal(daemonHealth({ actor, owned: true }).ok, true);
    const notOwned = daemonHealth({ actor, owned: false });
    assert.equal(notOwned.ok, false);
    assert.match(notOwned.ok ? '' : notOwned.reason, /not owned/);
    actor.stop();
    const stopped = daemonHealth({ actor, owned: true });
    assert.match(stopped.ok ? '' : stopped.reason, /statechart is stopped/);
  });
});
