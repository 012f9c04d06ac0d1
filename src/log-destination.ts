import sonicBoom from 'sonic-boom';
import TransportStream from 'winston-transport';

// sonic-boom is CommonJS: its class is a property of the module, not a named export Node can see.
const { SonicBoom } = sonicBoom;
type SonicBoom = InstanceType<typeof SonicBoom>;

/** Most bytes of log lines held while stderr's reader (journald, a pipe) lags; lines beyond are dropped and counted. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
/** winston's formatted line (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');

let stderr: SonicBoom | undefined;
let dropped = 0;

/**
 * stderr written asynchronously (sonic-boom: fs.write on the thread pool), one per process.
 * Node writes process.stderr synchronously when it is a pipe or a socket, as under systemd: a
 * journald or a reader that lags would stall the event loop, and every D-Bus call with it, on each
 * log line. Pending lines are bounded (MAX_PENDING_BYTES; what is dropped is counted in a later
 * line) and written synchronously at exit, so that the last lines before an exit are not lost.
 */
function stderrDestination(): SonicBoom {
  if (stderr) return stderr;
  const dest = new SonicBoom({ fd: 2, sync: false, maxLength: MAX_PENDING_BYTES });
  dest.on('drop', () => {
    dropped++;
  });
  dest.on('write', () => {
    if (dropped === 0) return;
    const n = dropped;
    dropped = 0;
    dest.write(`${n} log line(s) dropped: stderr was not read fast enough\n`);
  });
  // A write error (stderr closed) must not become an uncaught exception: the lines are lost either way.
  dest.on('error', () => undefined);
  process.on('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // stderr is gone: nothing left to write to.
    }
  });
  stderr = dest;
  return dest;
}

/** A winston transport writing each formatted line to the process's asynchronous stderr. */
export class StderrTransport extends TransportStream {
  readonly #dest = stderrDestination();

  override log(info: Record<PropertyKey, unknown>, next: () => void): void {
    this.#dest.write(`${String(info[MESSAGE])}\n`);
    next();
  }
}
