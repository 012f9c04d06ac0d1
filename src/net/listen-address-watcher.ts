import { networkInterfaces } from 'node:os';
import type { Logger } from '../log.ts';
import { type InterfaceTable, interfaceListenHosts } from './listen-hosts.ts';
import { errorMessage } from '../util/error-message.ts';

/** How often the interface's addresses are read again (documented in docs/operations.md). */
export const ADDRESS_POLL_MS = 2000;

/** Where a listener belongs: the configured addresses, or else the addresses of one interface. */
export interface ListenAddressOptions {
  /** The configured override (`listen_addresses`, `spdm_address`); empty means: follow `interfaceId`. */
  readonly explicit: readonly string[];
  readonly interfaceId: string;
  /** Names the listener in the log lines (`responder`, `SPDM responder`). */
  readonly what: string;
  readonly log: Logger;
  /** Called at once with the first set, then each time the set changes (never after close()). */
  readonly onChange: (hosts: readonly string[]) => void;
  /** Default ADDRESS_POLL_MS. */
  readonly pollMs?: number;
  /** Default os.networkInterfaces (tests of the pure part inject a table). */
  readonly readInterfaces?: () => InterfaceTable;
}

/** A running watch: the current set, and close() that stops the polling. */
export interface ListenAddressWatch {
  current(): readonly string[];
  close(): void;
}

/**
 * Follows the addresses a listener should bind. An explicit list is fixed. Otherwise the
 * interface's addresses are read every `pollMs` (a synchronous read, no child process, nothing
 * that can hang) and onChange gets the new set when it differs. An interface without an address
 * is logged once (and once more each time it loses its last address), not treated as an error.
 */
export function watchListenAddresses(o: ListenAddressOptions): ListenAddressWatch {
  if (o.explicit.length > 0) {
    const fixed = [...new Set(o.explicit)].sort();
    o.onChange(fixed);
    return { current: () => fixed, close: () => undefined };
  }
  const read = o.readInterfaces ?? networkInterfaces;
  let current: readonly string[] = [];
  let closed = false;
  let first = true;
  /** The last read failure, so that one that persists is logged once, not every poll. */
  let readError: string | undefined;
  const poll = () => {
    let next: string[];
    try {
      next = interfaceListenHosts(read(), o.interfaceId);
    } catch (err) {
      // os.networkInterfaces() throws only if getifaddrs(3) fails (e.g. a sandbox without
      // AF_NETLINK): keep the set, read again later.
      const message = errorMessage(err);
      if (message !== readError) o.log.warn(`cannot read the addresses of ${o.interfaceId}: ${message}`, { event: 'ADDRESS_READ_FAILED' });
      readError = message;
      return;
    }
    if (readError !== undefined) {
      o.log.info(`the addresses of ${o.interfaceId} can be read again`, { event: 'ADDRESS_READ_FAILED', interface: o.interfaceId });
      readError = undefined;
    }
    if (!first && next.join(' ') === current.join(' ')) return;
    const hadSome = current.length > 0;
    current = next;
    if (next.length === 0 && (first || hadSome)) {
      o.log.warn(`${o.interfaceId} has no address: the ${o.what} listens once it gets one`, { event: 'LISTEN_ADDRESS_WAIT', interface: o.interfaceId });
    } else if (next.length > 0) {
      o.log.info(`${o.what} addresses on ${o.interfaceId}: ${next.join(', ')}`, { event: 'LISTEN_ADDRESSES', interface: o.interfaceId });
    }
    first = false;
    if (!closed) o.onChange(next);
  };
  poll();
  const timer = setInterval(poll, o.pollMs ?? ADDRESS_POLL_MS);
  timer.unref();
  return {
    current: () => current,
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
