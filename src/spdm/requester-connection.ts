import { connect, type Socket } from 'node:net';
import type { RequesterDeadline } from './requester-deadline.ts';
import { SpdmError } from './spdm-error.ts';
import {
  EMU_CLIENT_HELLO,
  EmuCommand,
  encodeEmuPacket,
  encodeFrame,
  type Frame,
  FrameDecoder,
  MAX_FRAME_MESSAGE,
  type SpdmTransport,
} from './transport.ts';

/** Where and how a requester reaches a responder. */
export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly transport: SpdmTransport;
  /** The attestation's deadline: connecting and every response wait end when it passes. */
  readonly deadline: RequesterDeadline;
}

/**
 * One requester connection: send a request, wait for exactly one response frame, all within the
 * attestation's one deadline.
 * For spdm-emu framing it greets first (TEST "Client Hello!") and says CONTINUE on close, as
 * spdm_requester_emu does, so an spdm_responder_emu keeps serving the next connection.
 */
export class RequesterConnection {
  private readonly decoder: FrameDecoder;
  private readonly frames: Frame[] = [];
  private failure: SpdmError | undefined;
  private waiter: (() => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly transport: SpdmTransport,
    private readonly deadline: RequesterDeadline,
  ) {
    this.decoder = new FrameDecoder(transport, MAX_FRAME_MESSAGE);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.frames.push(...this.decoder.push(chunk));
      } catch (err) {
        this.failure = err instanceof SpdmError ? err : new SpdmError('MALFORMED', String(err));
        socket.destroy();
      }
      this.wake();
    });
    socket.on('close', () => {
      this.failure ??= new SpdmError(
        this.decoder.pending > 0 ? 'TRUNCATED' : 'CONNECTION',
        this.decoder.pending > 0 ? 'responder closed the connection in the middle of a message' : 'responder closed the connection',
      );
      this.wake();
    });
    socket.on('error', (err) => {
      this.failure ??= new SpdmError('CONNECTION', `connection to responder failed: ${err.message}`);
      this.wake();
    });
  }

  static async open(o: ConnectOptions): Promise<RequesterConnection> {
    const socket = connect({ host: o.host, port: o.port });
    socket.setNoDelay(true);
    const connected = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', (err) => reject(new SpdmError('CONNECTION', `cannot connect to ${o.host}:${o.port}: ${err.message}`)));
    });
    await o.deadline.race(connected, `connecting to ${o.host}:${o.port}`, () => socket.destroy());
    const conn = new RequesterConnection(socket, o.transport, o.deadline);
    if (o.transport === 'emu') {
      socket.write(encodeEmuPacket(EmuCommand.TEST, EMU_CLIENT_HELLO));
      const f = await conn.next('spdm-emu greeting');
      if (f.kind !== 'emu' || f.command !== EmuCommand.TEST) {
        conn.close();
        throw new SpdmError('UNEXPECTED_RESPONSE', 'spdm-emu responder did not answer the TEST greeting');
      }
    }
    return conn;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next frame the responder sends, waiting until the attestation's deadline. */
  private async next(what: string): Promise<Frame> {
    for (;;) {
      const f = this.frames.shift();
      if (f) return f;
      if (this.failure) throw this.failure;
      await this.deadline.race(
        new Promise<void>((resolve) => {
          this.waiter = resolve;
        }),
        `${what}: no response`,
        () => {
          this.waiter = undefined;
        },
      );
    }
  }

  /** Sends one SPDM request and returns the one SPDM response to it. */
  async exchange(request: Uint8Array, what: string): Promise<Uint8Array> {
    if (this.frames.length > 0) throw new SpdmError('UNEXPECTED_RESPONSE', `${what}: responder sent a message nobody asked for`);
    if (this.failure) throw this.failure;
    this.socket.write(encodeFrame(this.transport, request));
    const f = await this.next(what);
    if (f.kind === 'spdm') return f.message;
    if (f.kind === 'binding') throw new SpdmError('PEER_ERROR', `${what}: responder sent DSP0287 error message 0x${f.messageType.toString(16)}`);
    throw new SpdmError('UNEXPECTED_RESPONSE', `${what}: spdm-emu command 0x${f.command.toString(16)} instead of a response`);
  }

  /** Ends the connection (spdm-emu: CONTINUE first, so the emulator serves the next connection). */
  close(): void {
    if (this.transport === 'emu' && !this.failure && !this.socket.destroyed) {
      this.socket.end(encodeEmuPacket(EmuCommand.CONTINUE, new Uint8Array(0)));
      setTimeout(() => this.socket.destroy(), 1000).unref();
      return;
    }
    this.socket.destroy();
  }
}
