// `pnpm -s lldp-bridge`: publishes what lldpd sees as xyz.openbmc_project.LLDP objects, for BMCs
// whose phosphor-networkd has no LLDP service yet (docs/discovery.md).
import { connectSystemBus } from '../dbus/system-bus.ts';
import { createLogger, journalPrefix } from '../log.ts';
import { BRIDGE_USAGE, type BridgeOptions, parseBridgeOptions } from './bridge-options.ts';
import { saveCompileCache } from '../util/compile-cache.ts';
import { executablePath } from './executable-path.ts';
import { BridgeNameTakenError, startLldpBridge } from './lldp-bridge.ts';
import { showNeighbours, watchNeighbours, type LldpcliTarget, type LldpWatchProcess } from './lldpcli.ts';
import { TableReadOrder } from './table-read-order.ts';
import { errorMessage } from '../util/error-message.ts';

// The exit statuses (docs/operations.md, "The LLDP bridge"); the unit does not restart after 64, 72, 73.
const EX_USAGE = 64;
const EX_UNAVAILABLE = 69;
const EX_SOFTWARE = 70;
/** lldpcli is not installed (no lldpd on this host): restarting cannot help. */
const EX_OSFILE = 72;
/** Another process owns the bus name (phosphor-networkd's LLDP service, another bridge): restarting cannot help. */
const EX_NAME_TAKEN = 73;
/** Longest a full read of lldpd's table (`lldpcli show neighbors`) may take. */
const READ_TIMEOUT_MS = 10_000;

function fail(message: string, status: number): never {
  process.stderr.write(`${journalPrefix('error')}lldp-bridge: ${message}\n`);
  process.exit(status);
}

function options(): BridgeOptions {
  let opts: BridgeOptions | 'help';
  try {
    opts = parseBridgeOptions(process.argv.slice(2));
  } catch (err) {
    return fail(`${errorMessage(err)}\n${BRIDGE_USAGE}`, EX_USAGE);
  }
  if (opts === 'help') {
    process.stdout.write(`${BRIDGE_USAGE}\n`);
    process.exit(0);
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = options();
  const log = createLogger({ level: opts.level });
  const target: LldpcliTarget = { lldpcli: opts.lldpcli, ...(opts.socket ? { socket: opts.socket } : {}) };
  // Without lldpcli (lldpd not installed) the bridge has nothing to publish: one line, and a status
  // the unit does not restart on, rather than a bridge that owns the name and reads nothing.
  if (!executablePath(opts.lldpcli, process.env['PATH'] ?? '')) {
    fail(`${opts.lldpcli} not found${opts.lldpcli.includes('/') ? '' : ' in PATH'}: is lldpd installed?`, EX_OSFILE);
  }
  const conn = connectSystemBus();
  const bridge = await startLldpBridge({
    bus: conn.bus,
    names: { service: opts.service, objectRoot: opts.objectRoot, iface: opts.iface },
    log,
    maxNeighbours: opts.maxNeighbours,
    busCallTimeoutMs: 10_000,
  }).catch((err: unknown) => fail(errorMessage(err), err instanceof BridgeNameTakenError ? EX_NAME_TAKEN : EX_UNAVAILABLE));
  log.info(`lldp-bridge owns ${opts.service}; reading lldpd through ${opts.socket ?? 'its default socket'}`);
  saveCompileCache();

  let stopping = false;
  let watch: LldpWatchProcess | undefined;
  let retryMs = 500;
  // One full read at a time; a table read before the latest watch event is not applied (read again).
  const reads = new TableReadOrder();
  const resync = async (): Promise<void> => {
    const read = reads.begin();
    if (!read) return; // one runs: it reads again when it ends
    let table: Awaited<ReturnType<typeof showNeighbours>> | undefined;
    try {
      table = await showNeighbours(target, READ_TIMEOUT_MS);
    } catch (err) {
      log.warn(`reading lldpd's neighbours: ${errorMessage(err)}`, { code: 'LLDPD_UNAVAILABLE' });
    }
    const outcome = reads.end(read);
    if (stopping) return;
    if (table && outcome.apply) bridge.apply(table);
    else if (table) log.debug("lldpd's table was read before the latest watch event: not applied");
    if (outcome.again) await resync();
  };
  const runWatch = async () => {
    while (!stopping) {
      const started = Date.now();
      watch = watchNeighbours({
        target,
        onReport: (r) => {
          reads.event();
          bridge.apply(r);
        },
        onProblem: (m) => log.warn(`lldpcli watch: ${m}`, { code: 'LLDPD_BAD_OUTPUT' }),
      });
      // The table is read once the watch runs, so that nothing between the two is missed; a read
      // that began before this watch is out of date.
      reads.event();
      await resync();
      const why = await watch.ended;
      if (stopping) return;
      if (Date.now() - started > 10_000) retryMs = 500;
      log.warn(`${why}; starting it again in ${retryMs} ms`, { code: 'LLDPD_UNAVAILABLE' });
      await new Promise((r) => setTimeout(r, retryMs));
      retryMs = Math.min(retryMs * 2, 10_000);
    }
  };
  const timer = setInterval(() => void resync(), opts.resyncMs);
  void runWatch();

  const shutdown = async (why: string, status: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    log.info(`stopping: ${why}`);
    watch?.stop();
    await bridge.close().catch(() => undefined);
    conn.close();
    setImmediate(() => process.exit(status));
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.once('SIGINT', () => void shutdown('SIGINT', 0));
  void conn.lost.then((why) => {
    log.error(`lost the system bus: ${why}`, { code: 'BUS_LOST' });
    void shutdown('bus lost', EX_UNAVAILABLE);
  });
}

main().catch((err: unknown) => fail(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, EX_SOFTWARE));
