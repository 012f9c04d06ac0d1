import { isMainThread, parentPort, workerData } from 'node:worker_threads';

/**
 * The worker side of a module worker (see module-worker.ts): its link to the thread that started
 * it, typed by the message definitions both sides import, so a worker can only send what its
 * caller expects to receive.
 */
export interface WorkerPort<Request, Reply> {
  /** What the starting thread passed as `workerData`. */
  readonly data: unknown;
  /** Calls `handler` for every message from the starting thread. */
  onRequest(handler: (request: Request) => void): void;
  /** Sends one message to the starting thread. */
  send(reply: Reply): void;
}

/**
 * The port of the worker this module runs in. Messages from the starting thread are trusted to be
 * `Request`s (it is the same program); the starting thread validates what comes back.
 * Throws when called on the main thread, where there is no one to talk to.
 */
export function workerPort<Request, Reply>(): WorkerPort<Request, Reply> {
  const port = parentPort;
  if (isMainThread || port === null) throw new Error('workerPort() is only for code running on a worker thread');
  return {
    data: workerData,
    onRequest: (handler) => port.on('message', (m: Request) => handler(m)),
    send: (reply) => port.postMessage(reply),
  };
}
