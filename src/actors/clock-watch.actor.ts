import { fromCallback } from 'xstate';
import type { ClockWatch } from '../clock/clock-watch.ts';

/**
 * The root machine's `clockWatch` actor: the clock watch (created before the machine, whose input
 * is its first verdict) sends every change of verdict and every jump while the daemon runs.
 */
export function createClockWatchActor(clock: ClockWatch) {
  return fromCallback(({ sendBack }) => {
    clock.start(sendBack);
    return () => clock.stop();
  });
}
