/**
 * Listeners where they belong, on real interfaces: a BMC (namespace) with eth1 on the rack segment
 * and a second interface (mgmt0) of its own. The peer-link responder (8090) and attestationd's SPDM
 * responder (2323) accept on eth1's addresses, IPv6 link-local included, and refuse on mgmt0's
 * address even when the packet comes in through eth1; an address added to eth1 gets listeners, and
 * one that leaves eth1 (moved to mgmt0) loses them. The neighbour BMC is the client throughout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SPDM_PORT } from '../../src/config/schema.ts';
import { eventually } from '../harness/daemon.ts';
import { useAttestedRack } from '../harness/netns-attestationd.ts';
import { provisionPeer } from '../harness/netns-bmc.ts';
import { connectFrom } from '../harness/netns.ts';

const SUBNET = 81;
const PORT = 8090;
/** The second interface's subnet: routed by the neighbour through bmc-1's eth1 address. */
const MGMT = `169.254.${SUBNET + 100}`;
const ADDED = `169.254.${SUBNET}.11`;
/** Hang protection on a loaded machine; the addresses are read every 2 s. */
const STEP_MS = 30_000;

const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('the responders listen on the BMC-to-BMC interface only, and follow its addresses', () => {
  const { start, logs } = useAttestedRack({ size: 2, subnet: SUBNET, tmpPrefix: 'rack-listen-' });

  it('8090 and the SPDM port accept on eth1 (IPv4 and link-local IPv6), refuse on another interface, follow an address added and one taken away', async () => {
    const { rack, bmcs } = await start();
    const [a, b] = bmcs;
    assert.ok(a && b);
    const ip = async (...args: string[]) => {
      const r = await rack.exec(a.node, 'ip', args);
      assert.equal(r.code, 0, `ip ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const ports = { 'peer link': PORT, SPDM: DEFAULT_SPDM_PORT } as const;
    /** Both ports at `host`, seen from the neighbour, end in `outcome` (at once, or within STEP_MS where `follow` says the listeners must first catch up). */
    const expectAll = async (host: string, outcome: string, what: string, follow = false) => {
      for (const [name, port] of Object.entries(ports)) {
        let seen = '';
        const check = async () => {
          seen = await connectFrom(rack, b.node, host, port);
          return seen === outcome;
        };
        if (follow) await eventually(check, STEP_MS, 500);
        else await check();
        assert.equal(seen, outcome, `${name} port ${port} at ${host} (${what})\n${logs()}`);
      }
    };

    await provisionPeer(a, 'self');
    assert.ok(await a.daemon.waitForOutput(new RegExp(`responder listening on port ${PORT} at ${escaped(a.node.address)}`), STEP_MS), logs());

    // A second interface with an address of its own; the neighbour routes that subnet through bmc-1's eth1.
    await ip('link', 'add', 'mgmt0', 'type', 'veth', 'peer', 'name', 'mgmt1');
    await ip('addr', 'add', `${MGMT}.1/24`, 'dev', 'mgmt0');
    await ip('link', 'set', 'mgmt0', 'up');
    await ip('link', 'set', 'mgmt1', 'up');
    const route = await rack.exec(b.node, 'ip', ['route', 'add', `${MGMT}.0/24`, 'via', a.node.address, 'dev', b.node.ifname]);
    assert.equal(route.code, 0, route.stderr);

    await expectAll(a.node.address, 'open', 'eth1');
    await expectAll(`${MGMT}.1`, 'ECONNREFUSED', 'the other interface, reached through eth1');

    // eth1's IPv6 link-local address (with its zone) is one of its addresses too.
    const linkLocal = (JSON.parse(await ip('-j', '-6', 'addr', 'show', 'dev', a.node.ifname, 'scope', 'link')) as Array<{ addr_info: Array<{ local: string }> }>)[0]
      ?.addr_info[0]?.local;
    assert.ok(linkLocal, `bmc-1's ${a.node.ifname} has an IPv6 link-local address`);
    await expectAll(`${linkLocal}%${b.node.ifname}`, 'open', 'eth1, IPv6 link-local', true);

    // An address added to eth1 gets listeners within a poll or two.
    await ip('addr', 'add', `${ADDED}/24`, 'dev', a.node.ifname);
    await expectAll(ADDED, 'open', 'an address added to eth1', true);

    // The address leaves eth1 for mgmt0: still an address of this BMC (the neighbour still reaches it
    // through eth1), but no longer one of eth1's, so nothing listens there any more.
    await ip('addr', 'del', `${ADDED}/24`, 'dev', a.node.ifname);
    await ip('addr', 'add', `${ADDED}/32`, 'dev', 'mgmt0');
    await expectAll(ADDED, 'ECONNREFUSED', 'an address moved from eth1 to another interface', true);
    assert.ok(await a.daemon.waitForOutput(new RegExp(`responder stopped listening on ${escaped(ADDED)}:${PORT} \\(the address is gone\\)`), STEP_MS), 'the log says why');
    await expectAll(a.node.address, 'open', 'eth1 keeps its own address');
  });
});
