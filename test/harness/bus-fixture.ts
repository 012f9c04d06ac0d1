import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { busctl, SERVICE, startDaemon, type DaemonHandle, type DaemonOptions } from './daemon.ts';
import { startPrivateBus, type PrivateBus } from './private-bus.ts';
import { stopProcess } from './stop-process.ts';
import { runTeardown, type TeardownStep } from './teardown-steps.ts';

/** A test file's private bus and everything started on it; all of it is stopped by PID in `after`. */
export interface BusFixture {
  /** The bus started in `before`. */
  bus(): PrivateBus;
  /** Another private bus (e.g. to replace a killed one), stopped in `after` too. */
  newBus(): Promise<PrivateBus>;
  /**
   * Starts a daemon (on the fixture's bus unless another is given) and stops it in `after`. Refuses
   * to start while another daemon still owns the name: waiting for the name would then prove nothing.
   */
  startDaemon(opts?: Partial<DaemonOptions>): Promise<DaemonHandle>;
  /** Stops every daemon started so far (for `afterEach`, so a failed test leaves none running). */
  stopDaemons(): Promise<void>;
  /** Stops this child by its PID in `after`, whatever the tests did. */
  track(child: ChildProcess): ChildProcess;
  /**
   * Runs `fn` in `after` once every daemon, process and bus is stopped (e.g. to stop the token
   * the daemons used). Use it instead of an `after` of the test's own: node:test skips the `after`
   * hooks that follow one that failed, so one registered after the fixture's would not run when a
   * teardown step failed, and what it stops would keep the file's process alive.
   */
  finally(fn: () => void | Promise<void>): void;
  /** A fresh temp directory, removed in `after`. */
  tempDir(prefix: string): string;
  /**
   * Runs `fn` in `after`, before the processes are stopped and the temp dirs removed (e.g. to
   * disconnect a client, or to close a browser writing into one of them); a failing or hanging
   * `fn` (60 s) does not keep the rest of the teardown from running.
   */
  cleanup(fn: () => void | Promise<void>): void;
}

/**
 * Call inside a `describe`: registers a `before` that starts a private bus and an `after` that
 * stops every daemon, child process and bus it knows of, by PID, and removes their directories,
 * even when a test failed half-way.
 */
export function useBusFixture(): BusFixture {
  const buses: PrivateBus[] = [];
  const daemons: DaemonHandle[] = [];
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const cleanups: Array<() => void | Promise<void>> = [];
  const finals: Array<() => void | Promise<void>> = [];

  const newBus = async () => {
    const bus = await startPrivateBus();
    buses.push(bus);
    return bus;
  };
  before(async () => {
    await newBus();
  }, { timeout: 300_000 });
  after(async () => {
    // Every step runs, each with a deadline, whatever an earlier one did: a cleanup that fails or
    // hangs (a browser already gone) must not leave the daemons and buses running, nor the hook waiting.
    await runTeardown([
      ...cleanups.map((fn, i): TeardownStep => [`cleanup ${i + 1} of ${cleanups.length}`, fn]),
      ...daemons.map((d): TeardownStep => [`stopping daemon pid ${d.pid}`, () => d.stop()]),
      ...children.map((c): TeardownStep => [`stopping ${c.spawnfile} pid ${c.pid}`, () => stopProcess(c)]),
      ...buses.map((b): TeardownStep => [`stopping ${b.program} pid ${b.pid}`, () => b.stop()]),
      ...finals.map((fn, i): TeardownStep => [`final step ${i + 1} of ${finals.length}`, fn]),
      ...[...daemons.map((d) => d.dir), ...buses.map((b) => b.dir), ...dirs].map(
        (dir): TeardownStep => [`removing ${dir}`, () => rmSync(dir, { recursive: true, force: true })],
      ),
    ]);
  }, { timeout: 300_000 });

  const bus = () => {
    const [first] = buses;
    assert.ok(first, 'the private bus was started in before()');
    return first;
  };
  return {
    bus,
    newBus,
    async startDaemon(opts = {}) {
      const on = opts.bus ?? bus();
      if ((opts.waitForName ?? true) && (await busctl(on, 'status', SERVICE)).code === 0) {
        throw new Error(`${SERVICE} is still owned by an earlier daemon on this bus`);
      }
      const d = await startDaemon({ ...opts, bus: on });
      daemons.push(d);
      return d;
    },
    async stopDaemons() {
      for (const d of daemons) await d.stop();
    },
    track(child) {
      children.push(child);
      return child;
    },
    tempDir(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    cleanup(fn) {
      cleanups.push(fn);
    },
    finally(fn) {
      finals.push(fn);
    },
  };
}
