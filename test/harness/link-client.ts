import assert from 'node:assert/strict';
import type { LinkEvent } from '../../machines/events.ts';
import type { CredentialHolder } from '../../src/pki/certificate/tls-credentials.ts';
import type { TrustStore } from '../../src/pki/trust/index.ts';
import type { LinkTimings } from '../../src/tls/link-timings.ts';
import { TlsLinkClient } from '../../src/tls/tls-link-client.ts';
import { captureLog } from './capture-log.ts';
import { eventually } from './daemon.ts';

/** What a test dials: a responder on loopback, by the name it must present, as whom, trusting what. */
export interface LinkDial {
  readonly name: string;
  readonly port: number;
  readonly credentials: CredentialHolder;
  readonly trust: TrustStore;
  readonly timings: LinkTimings;
}

/** A link client a test started, with the events it reported so far (the caller closes it). */
export interface DialledLink {
  readonly client: TlsLinkClient;
  readonly events: LinkEvent[];
}

/** How long the first outcome of a dial on loopback may take: a net, not a measurement. */
const FIRST_EVENT_MS = 10_000;

/** Starts a TlsLinkClient to 127.0.0.1:`port` and waits for its first event (the link up, or why not). */
export async function dialLink(d: LinkDial): Promise<DialledLink> {
  const events: LinkEvent[] = [];
  const client = new TlsLinkClient({
    target: { name: d.name, address: '127.0.0.1', port: d.port },
    timings: d.timings, credentials: d.credentials, trust: d.trust, log: captureLog().log,
    onEvent: (e) => events.push(e),
  });
  client.start();
  try {
    assert.ok(await eventually(() => events.length > 0, FIRST_EVENT_MS), `the client dialling ${d.name} on port ${d.port} reported an outcome`);
  } catch (err) {
    client.close();
    throw err;
  }
  return { client, events };
}
