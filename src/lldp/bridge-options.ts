import { parseArgs } from 'node:util';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../log.ts';
import { DEFAULT_BRIDGE_NAMES } from './lldp-bridge.ts';

/** Every command-line option of lldp-bridge, as node:util parseArgs reads them (the usage lists each). */
export const BRIDGE_OPTIONS = {
  socket: { type: 'string' },
  lldpcli: { type: 'string', default: 'lldpcli' },
  service: { type: 'string', default: DEFAULT_BRIDGE_NAMES.service },
  'object-root': { type: 'string', default: DEFAULT_BRIDGE_NAMES.objectRoot },
  interface: { type: 'string', default: DEFAULT_BRIDGE_NAMES.iface },
  'max-neighbours': { type: 'string', default: '1024' },
  resync: { type: 'string', default: '30' },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What `lldp-bridge --help` prints, and a command-line error after its one line. */
export const BRIDGE_USAGE = `usage: lldp-bridge [--socket PATH] [--lldpcli PATH] [--service NAME] [--object-root PATH]
                   [--interface NAME] [--max-neighbours N] [--resync SECONDS] [--log-level LEVEL]
  --socket          lldpd's control socket (lldpcli -u); default: lldpd's own default
  --lldpcli         the lldpcli program to run (a path, or a name looked up in PATH); default lldpcli
  --service         D-Bus name to own; default ${DEFAULT_BRIDGE_NAMES.service}
  --object-root     root of the published objects; default ${DEFAULT_BRIDGE_NAMES.objectRoot}
  --interface       D-Bus interface of the neighbour objects; default ${DEFAULT_BRIDGE_NAMES.iface}
  --max-neighbours  most neighbours published at once; default 1024
  --resync          seconds between full re-reads of lldpd's table; default 30
  --log-level       one of ${LOG_LEVELS.join(', ')}; default info
  -h, --help        print this and exit`;

/** The bridge's command line, checked: what bridge-main runs with. */
export interface BridgeOptions {
  readonly socket: string | undefined;
  readonly lldpcli: string;
  readonly service: string;
  readonly objectRoot: string;
  readonly iface: string;
  readonly maxNeighbours: number;
  readonly resyncMs: number;
  readonly level: LogLevel;
}

/**
 * Reads and checks the command line: `'help'` when --help was given; throws an Error with one line
 * saying what is wrong (an unknown option, a value out of range, a log level the logger does not know).
 */
export function parseBridgeOptions(args: readonly string[]): BridgeOptions | 'help' {
  const { values } = parseArgs({ args: [...args], options: BRIDGE_OPTIONS, strict: true, allowPositionals: false });
  if (values.help) return 'help';
  const max = Number(values['max-neighbours']);
  const resync = Number(values.resync);
  if (!Number.isInteger(max) || max < 1 || max > 100_000) throw new Error('--max-neighbours must be an integer 1..100000');
  if (!(resync >= 0.5 && resync <= 86_400)) throw new Error('--resync must be 0.5..86400 seconds');
  if (!/^(\/[A-Za-z0-9_]+)+$/.test(values['object-root'])) throw new Error('--object-root must be a D-Bus object path');
  const level = values['log-level'];
  if (!isLogLevel(level)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(level)}`);
  return {
    socket: values.socket,
    lldpcli: values.lldpcli,
    service: values.service,
    objectRoot: values['object-root'],
    iface: values.interface,
    maxNeighbours: max,
    resyncMs: resync * 1000,
    level,
  };
}
