import { SerialQueue } from '../util/serial-queue.ts';
import { ADDRESS_POLL_MS, type ListenAddressOptions, watchListenAddresses } from './listen-address-watcher.ts';
import type { ReconcileResult } from './listener-set.ts';
import { errorMessage } from '../util/error-message.ts';

/** A listener to keep on the addresses it belongs on. */
export interface FollowListenAddressesOptions extends Omit<ListenAddressOptions, 'onChange'> {
  /** Listens on exactly `hosts` from now on; may reject when it cannot listen at all. */
  readonly apply: (hosts: readonly string[]) => Promise<ReconcileResult>;
  /** After the start, nothing could be bound (or apply rejected): the follower keeps trying at each poll. */
  readonly onFailure: (reason: string) => void;
}

/** A running follower: `started` settles once the first set was applied; close() stops it. */
export interface ListenAddressFollower {
  /** Rejects (and the follower stops) when the first set was not empty and none of it could be bound. */
  readonly started: Promise<void>;
  close(): void;
}

/**
 * Applies each set of listen addresses (watchListenAddresses) to a listener, one at a time. An
 * address that could not be bound is tried again at the next poll, so a tentative IPv6 address or
 * a port freed later is picked up without a restart.
 */
export function followListenAddresses(o: FollowListenAddressesOptions): ListenAddressFollower {
  const queue = new SerialQueue();
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  let first: Promise<string | undefined> | undefined;

  /** Applies `hosts`; resolves with why nothing listens when that is so. */
  const apply = (hosts: readonly string[]): Promise<string | undefined> =>
    queue.run(async () => {
      clearTimeout(retry);
      if (closed) return undefined;
      let failure: string | undefined;
      let again = false;
      try {
        const { failed, listening } = await o.apply(hosts);
        again = failed.length > 0;
        if (again && listening.length === 0) failure = failed[0]?.reason;
      } catch (err) {
        again = true;
        failure = errorMessage(err);
      }
      if (again && !closed) {
        retry = setTimeout(() => void apply(watch.current()).then(report), o.pollMs ?? ADDRESS_POLL_MS);
        retry.unref();
      }
      return failure;
    });
  const report = (failure: string | undefined) => {
    if (failure !== undefined && !closed) o.onFailure(failure);
  };

  const watch = watchListenAddresses({
    ...o,
    onChange: (hosts) => {
      if (first) void apply(hosts).then(report);
      else first = apply(hosts);
    },
  });
  const close = () => {
    closed = true;
    clearTimeout(retry);
    watch.close();
  };
  const started = (first ?? Promise.resolve(undefined)).then((failure) => {
    if (failure === undefined) return;
    close();
    throw new Error(failure);
  });
  return { started, close };
}
