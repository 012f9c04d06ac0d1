/**
 * A raw DSP0287 client for tests that play a requester by hand (hostile, slow or greedy ones):
 * sends SPDM messages or bytes as given, from a chosen source address if asked, and waits for each
 * response, for a binding message or for the responder closing the connection, each event-driven
 * with a deadline.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { MeasAttr, MeasOp } from '../../src/spdm/constants.ts';
import { encodeGetMeasurements } from '../../src/spdm/measurement-messages.ts';
import { encodeTcpFrame, FrameDecoder } from '../../src/spdm/transport.ts';
import { withTimeout } from '../../src/util/with-timeout.ts';

/** A safety net on a loaded machine, not a timing claim. */
const WAIT_DEADLINE_MS = 60_000;

/** GET_VERSION (1.0). */
export const GET_VERSION = Uint8Array.of(0x10, 0x84, 0, 0);
/** GET_CAPABILITIES 1.2 without flags, DataTransferSize = MaxSPDMmsgSize = 4096. */
export const GET_CAPS = Uint8Array.of(0x12, 0xe1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 0);
/** NEGOTIATE_ALGORITHMS 1.2: DMTF measurements, opaque format 1, ECDSA P-256 or P-384, SHA-256 or SHA-384. */
export const NEGOTIATE = Uint8Array.of(0x12, 0xe3, 0, 0, 32, 0, 1, 2, 0x90, 0, 0, 0, 0x3, 0, 0, 0, ...new Array<number>(16).fill(0));

/** GET_MEASUREMENTS of all blocks with a signature over a fresh nonce (slot 0). */
export const signedGetMeasurements = () =>
  encodeGetMeasurements({ attributes: MeasAttr.SIGNATURE, operation: MeasOp.ALL, nonce: new Uint8Array(randomBytes(32)), slot: 0 });

/** Where a raw client connects, and from where. */
export interface RawClientTarget {
  readonly port: number;
  readonly host?: string;
  /** Source address (e.g. another 127.0.0.0/8 address, to look like another peer). */
  readonly localAddress?: string;
}

/** One raw connection: responses are queued as they arrive, and each wait wakes on the next event. */
export class SpdmRawClient {
  private readonly decoder = new FrameDecoder('tcp', 0xffff);
  private readonly frames: Uint8Array[] = [];
  private readonly bindings: number[] = [];
  private readonly wakers = new Set<() => void>();
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      for (const f of this.decoder.push(c)) {
        if (f.kind === 'spdm') this.frames.push(f.message);
        if (f.kind === 'binding') this.bindings.push(f.messageType);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined); // a connection the responder cuts off may be reset: the tests look at `closed`
  }

  static async open(t: RawClientTarget): Promise<SpdmRawClient> {
    const socket = connect({ host: t.host ?? '127.0.0.1', port: t.port, ...(t.localAddress ? { localAddress: t.localAddress } : {}) });
    const connected = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    await withTimeout(connected, WAIT_DEADLINE_MS, `connecting to ${t.host ?? '127.0.0.1'}:${t.port}`).catch((err: unknown) => {
      socket.destroy();
      throw err;
    });
    return new SpdmRawClient(socket);
  }

  private wake(): void {
    for (const w of this.wakers) w();
  }

  /** Resolves once `ready()` holds, checked on every event of the connection; rejects after the deadline. */
  private until(ready: () => boolean, what: string): Promise<void> {
    if (ready()) return Promise.resolve();
    let waker: (() => void) | undefined;
    const met = new Promise<void>((resolve) => {
      waker = () => {
        if (ready()) resolve();
      };
      this.wakers.add(waker);
    });
    return withTimeout(met, WAIT_DEADLINE_MS, what).finally(() => {
      if (waker) this.wakers.delete(waker);
    });
  }

  writeRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Sends one SPDM message and returns the next response. */
  async ask(msg: Uint8Array): Promise<Uint8Array> {
    this.socket.write(encodeTcpFrame(msg));
    await this.until(() => this.frames.length > 0 || this.closed, `the response to request 0x${(msg[1] ?? 0).toString(16)}`);
    const f = this.frames.shift();
    if (!f) throw new Error(`the responder closed the connection instead of answering request 0x${(msg[1] ?? 0).toString(16)}`);
    return f;
  }

  /** The next DSP0287 binding message, or undefined when the connection closed without one. */
  async binding(): Promise<number | undefined> {
    await this.until(() => this.bindings.length > 0 || this.closed, 'a binding message');
    return this.bindings.shift();
  }

  /** Resolves when the responder has closed the connection. */
  whenClosed(): Promise<void> {
    return this.until(() => this.closed, 'the responder closing the connection');
  }

  close(): void {
    this.socket.destroy();
  }
}

/** VCA, then signed measurements: the shortest session a responder reports as completed. */
export async function completeSignedMeasurements(c: SpdmRawClient): Promise<void> {
  for (const [msg, code] of [[GET_VERSION, 0x04], [GET_CAPS, 0x61], [NEGOTIATE, 0x63], [signedGetMeasurements(), 0x60]] as const) {
    const rsp = await c.ask(msg);
    if (rsp[1] !== code) throw new Error(`request 0x${(msg[1] ?? 0).toString(16)} answered 0x${(rsp[1] ?? 0).toString(16)}, expected 0x${code.toString(16)}`);
  }
}
