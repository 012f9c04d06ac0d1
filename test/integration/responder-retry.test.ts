/**
 * A port taken at start does not leave the BMC without a responder for good: the statechart's
 * `responder` region waits in Failed and listens again once the port is free.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { acceptsConnections, busctl, freePort, IFACE, OBJECT, SERVICE } from '../harness/daemon.ts';


describe('responder on a port that is taken', () => {
  const fixture = useBusFixture();

  it('reports RESPONDER_FAILED, keeps running, and listens once the port is free', async () => {
    const port = await freePort();
    const squatter: Server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => squatter.listen(port, '0.0.0.0', resolve));
    fixture.cleanup(() => new Promise<void>((resolve) => squatter.close(() => resolve())));

    const daemon = await fixture.startDaemon({ config: { name: 'bmc-port', port, retry_base: 0.2, retry_timer: 1 } });
    const call = await busctl(fixture.bus(), 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, call.stderr);
    assert.ok(await daemon.waitForOutput(/event=RESPONDER_FAILED/), daemon.output());
    assert.ok(await daemon.waitForOutput(/"responder":"Failed"/), 'the statechart shows responder.Failed');

    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    assert.ok(await daemon.waitForOutput(/responder listening on port/), daemon.output());
    assert.equal(await acceptsConnections(port), true, 'the responder took the port once it was free');
    assert.equal(daemon.process.exitCode, null);
  });
});
