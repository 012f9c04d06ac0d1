/**
 * How long a process under test may take to come up (tsx transpiling the daemon, dbus-daemon,
 * swtpm, tpm2-abrmd) on a loaded, shared 2-core machine, where 20 s have been seen to pass before
 * the daemon's first log line. A net against a hang, never a measurement: no test asserts how fast
 * anything starts.
 */
export const STARTUP_DEADLINE_MS = 90_000;
