import { onBus, IFACE, OBJECT, SERVICE, type CommandResult } from './daemon.ts';
import type { PrivateBus } from './private-bus.ts';

/** The uid/gid of `nobody`: a caller the shipped policy treats as "default", not root. */
export const NOBODY = 65534;

/** A `dbus-send --print-reply` result plus the D-Bus error name it printed, if the call failed. */
export interface DbusSendResult extends CommandResult {
  /** e.g. `xyz.openbmc_project.Common.Error.NotAllowed`; undefined when the call succeeded. */
  readonly errorName: string | undefined;
}

/** One method call as `dbus-send` spells it. */
export interface DbusSendCall {
  readonly bus: PrivateBus;
  /** `Interface.Member`; default: ProvisionPeer on the provisioning interface. */
  readonly method?: string;
  readonly dest?: string;
  readonly path?: string;
  /** dbus-send typed arguments, e.g. `string:self`, `int32:5`. */
  readonly args?: readonly string[];
  /** Run as uid/gid 65534 through `setpriv` instead of as root. */
  readonly asNobody?: boolean;
}

/** Prefixes a command with `setpriv` so that it runs as `nobody` with no supplementary groups. */
export function asNobody(cmd: string, args: readonly string[]): [string, string[]] {
  return ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', cmd, ...args]];
}

/**
 * Calls a method with `dbus-send --system --print-reply` (busctl hides error names; dbus-send prints
 * them as `Error <name>: <text>`), on the private bus through DBUS_SYSTEM_BUS_ADDRESS.
 */
export async function dbusSend(call: DbusSendCall): Promise<DbusSendResult> {
  const argv = [
    '--system',
    '--print-reply',
    `--dest=${call.dest ?? SERVICE}`,
    call.path ?? OBJECT,
    call.method ?? `${IFACE}.ProvisionPeer`,
    ...(call.args ?? []),
  ];
  const [cmd, args] = call.asNobody ? asNobody('dbus-send', argv) : ['dbus-send', argv];
  const r = await onBus(call.bus, cmd, args);
  const errorName = /^Error ([A-Za-z0-9_.]+)/m.exec(r.stderr)?.[1];
  return { ...r, errorName: r.code === 0 ? undefined : (errorName ?? '(no error name printed)') };
}
