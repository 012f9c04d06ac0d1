import type { AddressInfo, Server } from 'node:net';
import type { Logger } from '../log.ts';
import { SerialQueue } from '../util/serial-queue.ts';
import { withTimeout } from '../util/with-timeout.ts';
import { hostPort } from './listen-hosts.ts';
import { errorMessage } from '../util/error-message.ts';

/** How long one listen() may take before it counts as failed. */
const SERVER_OP_TIMEOUT_MS = 5000;

/** One server per address, all on one port, sharing one cap on connections. */
export interface ListenerSetOptions<S extends Server = Server> {
  /** 0: the first listener picks a free port and the others use the same one (tests). */
  readonly port: number;
  /** A new server with its handlers attached (the set adds none but its own bookkeeping). */
  readonly createServer: () => S;
  /** The cap on open connections over all the set's servers. */
  readonly maxConnections: number;
  /** Names the listener in log lines (`responder` → "responder listening on port 8090 at …"). */
  readonly what: string;
  /** The `event` field of the "listening on" line (`RESPONDER_UP`). */
  readonly upEvent: string;
  readonly log: Logger;
}

/** An address the set could not bind, and why (`code`: EADDRINUSE, EADDRNOTAVAIL, TIMEOUT, …). */
export interface ListenFailure {
  readonly host: string;
  readonly code: string;
  readonly reason: string;
}

/** What one reconcile() did. */
export interface ReconcileResult {
  readonly failed: readonly ListenFailure[];
  /** Addresses listening after it. */
  readonly listening: readonly string[];
}

interface Listener<S extends Server> {
  readonly server: S;
  open: number;
}

/**
 * The listeners of one service on a changing set of addresses: reconcile() binds the addresses
 * that are new and closes those that vanished, one call at a time. The cap is shared: each server's
 * own `maxConnections` is what the cap leaves after the other servers' connections, so Node drops
 * (closes at once, with its `drop` event) a connection beyond it on whichever address it arrives.
 */
export class ListenerSet<S extends Server = Server> {
  #o: ListenerSetOptions<S>;
  #listeners = new Map<string, Listener<S>>();
  #queue = new SerialQueue();
  #port: number;
  #closed = false;
  /** The last failure logged per address, so a retry that fails the same way is not logged again. */
  #logged = new Map<string, string>();

  constructor(o: ListenerSetOptions<S>) {
    this.#o = o;
    this.#port = o.port;
  }

  /** The port every listener uses (the picked one once a listener was bound with port 0). */
  get port(): number {
    return this.#port;
  }

  /** Addresses with a listener. */
  get hosts(): readonly string[] {
    return [...this.#listeners.keys()];
  }

  /** The servers, e.g. to renew a TLS context on each. */
  get servers(): readonly S[] {
    return [...this.#listeners.values()].map((l) => l.server);
  }

  /** Open connections over all listeners. */
  get connections(): number {
    let n = 0;
    for (const l of this.#listeners.values()) n += l.open;
    return n;
  }

  /** Listens on exactly `hosts` from now on: binds the new ones, closes the vanished ones. */
  reconcile(hosts: readonly string[]): Promise<ReconcileResult> {
    return this.#queue.run(async () => {
      const failed: ListenFailure[] = [];
      if (this.#closed) return { failed, listening: [] };
      const wanted = new Set(hosts);
      for (const host of [...this.#listeners.keys()]) {
        if (!wanted.has(host)) this.#stop(host, 'the address is gone');
      }
      for (const host of wanted) {
        if (this.#listeners.has(host)) continue;
        const failure = await this.#start(host);
        if (failure) failed.push(failure);
      }
      for (const host of [...this.#logged.keys()]) if (!wanted.has(host)) this.#logged.delete(host);
      return { failed, listening: this.hosts };
    });
  }

  /** Closes every listener (connections are the owner's to close). */
  close(): Promise<void> {
    return this.#queue.run(async () => {
      this.#closed = true;
      for (const host of [...this.#listeners.keys()]) this.#stop(host, 'stopped');
    });
  }

  async #start(host: string): Promise<ListenFailure | undefined> {
    const { log, what } = this.#o;
    let server: S;
    try {
      server = this.#o.createServer();
    } catch (err) {
      const reason = errorMessage(err);
      return { host, code: 'SERVER', reason };
    }
    const listener: Listener<S> = { server, open: 0 };
    server.on('connection', (socket: { once(e: 'close', f: () => void): unknown }) => {
      listener.open++;
      this.#shareCap();
      socket.once('close', () => {
        listener.open--;
        this.#shareCap();
      });
    });
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port: this.#port, host }, () => {
            server.off('error', reject);
            resolve();
          });
        }),
        SERVER_OP_TIMEOUT_MS,
        `listening on ${hostPort(host, this.#port)}`,
      );
    } catch (err) {
      server.close();
      const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
      const reason = errorMessage(err);
      if (this.#logged.get(host) !== reason) {
        this.#logged.set(host, reason);
        log.warn(`${what} cannot listen on ${hostPort(host, this.#port)}: ${reason}`, { event: 'LISTEN_FAILED', code, reason });
      }
      return { host, code, reason };
    }
    this.#logged.delete(host);
    this.#port = (server.address() as AddressInfo).port;
    this.#listeners.set(host, listener);
    this.#shareCap();
    log.info(`${what} listening on port ${this.#port} at ${host}`, { event: this.#o.upEvent, address: host });
    return undefined;
  }

  /** Stops accepting on `host` at once; its open connections are the owner's to close (or to time out). */
  #stop(host: string, why: string): void {
    const listener = this.#listeners.get(host);
    if (!listener) return;
    this.#listeners.delete(host);
    listener.server.close();
    this.#o.log.info(`${this.#o.what} stopped listening on ${hostPort(host, this.#port)} (${why})`, { event: 'LISTEN_STOPPED', address: host });
  }

  #shareCap(): void {
    const total = this.connections;
    for (const l of this.#listeners.values()) l.server.maxConnections = Math.max(0, this.#o.maxConnections - (total - l.open));
  }
}
