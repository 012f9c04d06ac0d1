import type { Logger } from './log.ts';

/**
 * Loads the inspector (its own part of the package, with elkjs) with a dynamic import(), only when
 * `inspect_port` is set. An image built without that part still runs the daemon: the missing
 * module is one warning (`INSPECTOR_NOT_INSTALLED`) and the daemon goes on without the inspector;
 * any other error is the inspector's own and propagates.
 */
export async function loadInspector(log: Logger) {
  try {
    return await import('./inspect/inspector.ts');
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    log.warn(`inspect_port is set but the inspector is not installed (${(err as Error).message.split('\n')[0]}): running without it`, {
      code: 'INSPECTOR_NOT_INSTALLED',
    });
    return undefined;
  }
}

/** The loaded inspector module, for code outside src/inspect/ that must not import it. */
export type InspectorPart = NonNullable<Awaited<ReturnType<typeof loadInspector>>>;
