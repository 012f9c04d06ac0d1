import type { SnapshotFrom } from 'xstate';
import { PEER_CONNECTION_STATUS_PREFIX, selectDbusProperties } from '../../machines/dbus-properties.ts';
import type { ProvisioningMachine } from '../../machines/provisioning.machine.ts';
import type { DaemonSummary } from './inspector-view.ts';

/**
 * The daemon's D-Bus properties from its root snapshot, through the same projection the D-Bus
 * adapter publishes (selectDbusProperties; the service holds `provisioned = true` back only for
 * the moment its write to disk takes, selectPublishedProperties). Undefined for anything that is
 * not a provisioning snapshot.
 */
export function daemonSummary(rootSnapshot: unknown): DaemonSummary | undefined {
  const snap = rootSnapshot as { context?: { inbound?: unknown }; children?: unknown } | undefined;
  if (!snap || typeof snap !== 'object' || !snap.context || typeof snap.context.inbound !== 'object' || !snap.children) {
    return undefined;
  }
  const props = selectDbusProperties(rootSnapshot as SnapshotFrom<ProvisioningMachine>);
  return { provisioned: props.provisioned, peerConnected: props.peerConnected.slice(PEER_CONNECTION_STATUS_PREFIX.length + 1) };
}
