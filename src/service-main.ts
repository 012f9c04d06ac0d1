import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, EX_CONFIG } from './config/load-config.ts';
import type { LoadedJsonConfig } from './config/json-config-loader.ts';
import { createLogger, journalPrefix, type Logger } from './log.ts';
import { saveCompileCache } from './util/compile-cache.ts';
import { errorMessage } from './util/error-message.ts';

/** sysexits.h codes, so that systemd and operators can tell failures apart (docs/operations.md). */
export const EX_USAGE = 64;
export const EX_UNAVAILABLE = 69;
export const EX_SOFTWARE = 70;

/**
 * A start that fails for a reason the one line says in full (another instance runs; a state file
 * that cannot be used): the runner writes `<program>: <message>` and exits with `status`, with no
 * START_FAILED log line besides.
 */
export class StartRefusal extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** How long a clean shutdown may take before the process exits anyway. */
const HARD_STOP_MS = 10_000;

/** A started service as the runner needs it: `lost` settles if the bus goes away; stop() shuts down cleanly. */
export interface RunningService {
  readonly lost: Promise<string>;
  stop(): Promise<void>;
}

/** What a service's prepare step hands back: how to start it, and what to release if starting fails. */
export interface ServiceLaunch {
  start(): Promise<RunningService>;
  closeOnFailure(): Promise<void>;
}

/** What a service's prepare step works with once the command line and the config are read. */
export interface ServiceContext<C> {
  readonly config: C;
  readonly confPath: string;
  readonly log: Logger;
  /** The extra boolean flags (`ServiceMainSpec.flags`) given on the command line. */
  readonly flags: ReadonlySet<string>;
  /** Writes `<program>: <message>` on stderr and exits with `status`. */
  fail(message: string, status: number): never;
}

/** One daemon's main, so that provisioningd and attestationd share command line, start and shutdown rules. */
export interface ServiceMainSpec<C extends { readonly log_level: string }> {
  /** The name in front of every stderr line. */
  readonly program: string;
  readonly usage: string;
  readonly defaultConfPath: string;
  /** Boolean options beyond --conf and --help. */
  readonly flags?: readonly string[];
  loadConfig(path: string): LoadedJsonConfig<C>;
  /** Checks what must be right before starting; undefined when a one-shot command has done its work. */
  prepare(ctx: ServiceContext<C>): Promise<ServiceLaunch | undefined>;
}

/** Runs a daemon: parse the command line, load the config, start, and stop on SIGTERM/SIGINT or a lost bus. */
export function runServiceMain<C extends { readonly log_level: string }>(spec: ServiceMainSpec<C>): void {
  const fail = (message: string, status: number): never => {
    process.stderr.write(`${journalPrefix('error')}${spec.program}: ${message}\n`);
    process.exit(status);
  };

  const parseCommandLine = (): { confPath: string; flags: ReadonlySet<string> } => {
    const extra = spec.flags ?? [];
    try {
      const options: NonNullable<ParseArgsConfig['options']> = { conf: { type: 'string' }, help: { type: 'boolean', short: 'h' } };
      for (const flag of extra) options[flag] = { type: 'boolean' };
      const { values } = parseArgs({
        options,
        strict: true,
        allowPositionals: false,
      });
      if (values['help'] === true) {
        process.stdout.write(`${spec.usage}\n`);
        process.exit(0);
      }
      const conf = values['conf'];
      return {
        confPath: typeof conf === 'string' ? conf : spec.defaultConfPath,
        flags: new Set(extra.filter((flag) => values[flag] === true)),
      };
    } catch (err) {
      return fail(`${errorMessage(err)}\n${spec.usage}`, EX_USAGE);
    }
  };

  const main = async (): Promise<void> => {
    const { confPath, flags } = parseCommandLine();
    let loaded: LoadedJsonConfig<C>;
    try {
      loaded = spec.loadConfig(confPath);
    } catch (err) {
      if (err instanceof ConfigError) return fail(err.message, EX_CONFIG);
      throw err;
    }
    const { config } = loaded;
    const log = createLogger({ level: config.log_level });
    if (loaded.usedDefaults) log.info(`${confPath}: no such file, running on defaults`);
    for (const w of loaded.warnings) log.warn(w, { code: 'CONFIG_UNKNOWN_KEY' });

    const launch = await spec.prepare({ config, confPath, log, flags, fail });
    if (!launch) return;

    // SIGTERM/SIGINT are handled from before the start: one that arrives while the service starts
    // (its bus name may already be owned) stops it cleanly as soon as it is up, never by the
    // signal's default action.
    let service: RunningService | undefined;
    let stopping: { why: string; status: number } | undefined;
    const stopService = async (running: RunningService, status: number) => {
      await running.stop().catch((err: unknown) => log.error(`during shutdown: ${String(err)}`));
      // The logger stays open: sockets still closing may log a last line before the exit.
      process.exitCode = status;
      setImmediate(() => process.exit(status));
    };
    const shutdown = (why: string, status: number) => {
      if (stopping) return;
      stopping = { why, status };
      log.info(`stopping: ${why}${service ? '' : ' (during start)'}`);
      const hard = setTimeout(() => {
        process.stderr.write(`${journalPrefix('error')}${spec.program}: clean shutdown took longer than 10 s, exiting\n`);
        process.exit(status || EX_SOFTWARE);
      }, HARD_STOP_MS);
      hard.unref();
      if (service) void stopService(service, status);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM', 0));
    process.once('SIGINT', () => shutdown('SIGINT', 0));

    try {
      service = await launch.start();
    } catch (err) {
      if (err instanceof StartRefusal) {
        await launch.closeOnFailure().catch(() => undefined);
        return fail(err.message, err.status);
      }
      log.error(`cannot start: ${errorMessage(err)}`, { code: 'START_FAILED' });
      await launch.closeOnFailure().catch(() => undefined);
      return fail(`cannot start: ${errorMessage(err)}`, EX_UNAVAILABLE);
    }
    const started = service;
    saveCompileCache();
    if (stopping) {
      void stopService(started, stopping.status);
      return;
    }
    void started.lost.then((why) => {
      log.error(`lost the system bus: ${why}; exiting so that systemd restarts the service`, { code: 'BUS_LOST' });
      shutdown('bus lost', EX_UNAVAILABLE);
    });
  };

  main().catch((err: unknown) => {
    process.stderr.write(`${spec.program}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(EX_SOFTWARE);
  });
}
