/**
 * SIGTERM stops cleanly: exit status 0, the bus name released, the responder's port closed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useBusFixture } from '../harness/bus-fixture.ts';
import { acceptsConnections, busctl, IFACE, OBJECT, SERVICE } from '../harness/daemon.ts';


describe('SIGTERM', () => {
  const fixture = useBusFixture();

  it('exits 0, releases the bus name and closes the peer-link port', async () => {
    const bus = fixture.bus();
    const daemon = await fixture.startDaemon({ config: { name: 'bmc-term' } });
    const port = Number(daemon.config['port']);
    const call = await busctl(bus, 'call', SERVICE, OBJECT, IFACE, 'ProvisionPeer', 's', 'self');
    assert.equal(call.code, 0, call.stderr);
    assert.equal(await acceptsConnections(port), true, 'the responder listens once provisioned');

    daemon.kill('SIGTERM');
    const { code, signal } = await daemon.exited();
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, daemon.output());
    assert.match(daemon.output(), /stopping: SIGTERM/);
    assert.notEqual((await busctl(bus, 'status', SERVICE)).code, 0, 'the bus name is released');
    assert.equal(await acceptsConnections(port), false, 'the port is closed');
  });
});
