// `pnpm -s lldp-bridge`: publishes what lldpd sees as xyz.openbmc_project.LLDP objects, for BMCs
// whose phosphor-networkd has no LLDP service yet (docs/discovery.md).
import { parseArgs } from 'node:util';
import { connectSystemBus } from '../dbus/system-bus.ts';
import { createLogger, journalPrefix } from '../log.ts';
import { saveCompileCache } from '../util/compile-cache.ts';
import { executablePath } from './executable-path.ts';
import { BridgeNameTakenError, DEFAULT_BRIDGE_NAMES, startLldpBridge } from './lldp-bridge.ts';
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
const USAGE = `usage: lldp-bridge [--socket PATH] [--lldpcli PATH] [--service NAME] [--object-root PATH]
                   [--interface NAME] [--max-neighbours N] [--resync SECONDS] [--log-level LEVEL]
  --socket          lldpd's control socket (lldpcli -u); default: lldpd's own default
  --service         D-Bus name to own; default ${DEFAULT_BRIDGE_NAMES.service}
  --object-root     root of the published objects; default ${DEFAULT_BRIDGE_NAMES.objectRoot}
  --interface       D-Bus interface of the neighbour objects; default ${DEFAULT_BRIDGE_NAMES.iface}
  --max-neighbours  most neighbours published at once; default 1024
  --resync          seconds between full re-reads of lldpd's table; default 30`;

function fail(message: string, status: number): never {
  process.stderr.write(`${journalPrefix('error')}lldp-bridge: ${message}\n`);
  process.exit(status);
}

function options() {
  try {
    const { values } = parseArgs({
      options: {
        socket: { type: 'string' },
        lldpcli: { type: 'string', default: 'lldpcli' },
        service: { type: 'string', default: DEFAULT_BRIDGE_NAMES.service },
        'object-root': { type: 'string', default: DEFAULT_BRIDGE_NAMES.objectRoot },
        interface: { type: 'string', default: DEFAULT_BRIDGE_NAMES.iface },
        'max-neighbours': { type: 'string', default: '1024' },
        resync: { type: 'string', default: '30' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const max = Number(values['max-neighbours']);
    const resync = Number(values.resync);
    if (!Number.isInteger(max) || max < 1 || max > 100_000) throw new Error('--max-neighbours must be an integer 1..100000');
    if (!(resync >= 0.5 && resync <= 86_400)) throw new Error('--resync must be 0.5..86400 seconds');
    if (!/^(\/[A-Za-z0-9_]+)+$/.test(values['object-root'])) throw new Error('--object-root must be a D-Bus object path');
    return { ...values, max, resyncMs: resync * 1000 };
  } catch (err) {
    return fail(`${errorMessage(err)}\n${USAGE}`, EX_USAGE);
  }
}

async function main(): Promise<void> {
  const opts = options();
  const level = ['error', 'warn', 'info', 'debug'].includes(opts['log-level']) ? opts['log-level'] : 'info';
  const log = createLogger({ level });
  const target: LldpcliTarget = { lldpcli: opts.lldpcli, ...(opts.socket ? { socket: opts.socket } : {}) };
  // Without lldpcli (lldpd not installed) the bridge has nothing to publish: one line, and a status
  // the unit does not restart on, rather than a bridge that owns the name and reads nothing.
  if (!executablePath(opts.lldpcli, process.env['PATH'] ?? '')) {
    fail(`${opts.lldpcli} not found${opts.lldpcli.includes('/') ? '' : ' in PATH'}: is lldpd installed?`, EX_OSFILE);
  }
  const conn = connectSystemBus();
  const bridge = await startLldpBridge({
    bus: conn.bus,
    names: { service: opts.service, objectRoot: opts['object-root'], iface: opts.interface },
    log,
    maxNeighbours: opts.max,
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
