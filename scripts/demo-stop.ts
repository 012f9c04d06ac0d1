// How `pnpm -s demo` ends: at its own end, or at SIGINT (Ctrl-C) or SIGTERM at any point, it stops
// what it started (every process by PID, the namespaces) once. Without this a SIGTERM to the demo's
// process ended it at once and left its buses, lldpds, bridges and daemons running, orphaned.

/** The exit status of a process ended by one of these signals: 128 + the signal's number. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

let signalled = false;

/** Whether a signal is ending the demo: its teardown runs, and the process exits when that is done. */
export const endedBySignal = (): boolean => signalled;

/** The demo's end, from its main flow or from a signal, whichever comes first. */
export interface DemoStop {
  /** Runs the teardown (once) and stops listening for the signals: the demo's own end. */
  stop(): Promise<void>;
  /** Resolves at SIGINT or SIGTERM, which then end the demo normally, through its own stop(). */
  untilSignal(): Promise<void>;
}

/**
 * From now on SIGINT or SIGTERM runs `teardown` (once) and exits 130 or 143, unless the demo waits
 * for one (untilSignal), which is then its normal end.
 */
export function teardownOnSignal(teardown: () => Promise<void>): DemoStop {
  let done: Promise<void> | undefined;
  let waiting: (() => void) | undefined;
  const once = () => (done ??= teardown());
  const onSignal = (sig: keyof typeof SIGNAL_EXIT) => {
    if (waiting) return waiting();
    if (signalled) return; // a second signal while the first one's teardown runs
    signalled = true;
    process.stderr.write(`demo: ${sig}: stopping what it started\n`);
    void once().finally(() => process.exit(SIGNAL_EXIT[sig]));
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    stop: async () => {
      await once();
      if (signalled) return; // the signal's handler exits once the teardown is done
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
    untilSignal: () => new Promise<void>((resolve) => (waiting = resolve)),
  };
}
