import type { ElkNode } from 'elkjs/lib/elk-api.js';
import { startModuleWorker } from '../util/module-worker.ts';
import { withTimeout } from '../util/with-timeout.ts';
import { isLayoutReply, type LayoutRequest } from './elk-layout-messages.ts';

/** How long one layout may take and who may cancel it. */
export interface ElkThreadOptions {
  /** The whole job: thread start, loading elkjs, laying out every graph. */
  readonly timeoutMs: number;
  /** Aborting ends the thread at once (the inspector closing). */
  readonly signal?: AbortSignal;
  /** Called once elkjs has loaded on the thread and starts computing (for the log). */
  readonly onComputing?: () => void;
}

/** elkjs needs about 40 MB of heap for the daemon's two machines; a runaway layout ends its thread, not the daemon. */
const HEAP_LIMIT_MB = 128;

/**
 * Lays out `graphs` with elkjs on a thread of its own (the module worker elk-layout-worker.ts),
 * started for this call and ended when it answers, fails, runs out of time or is aborted, so that
 * the calling thread's event loop stays free. The main thread never loads elkjs. Same graphs in,
 * same numbers out, in the same order.
 */
export async function layoutOnThread(graphs: readonly ElkNode[], opts: ElkThreadOptions): Promise<ElkNode[]> {
  opts.signal?.throwIfAborted();
  const worker = startModuleWorker({
    module: new URL('./elk-layout-worker.ts', import.meta.url),
    resourceLimits: { maxOldGenerationSizeMb: HEAP_LIMIT_MB },
  });
  // Never what keeps the process alive: the deadline below bounds it, close() aborts it.
  worker.unref();
  let onAbort: () => void = () => undefined;
  const answered = new Promise<ElkNode[]>((resolve, reject) => {
    worker.on('message', (m: unknown) => {
      if (!isLayoutReply(m)) reject(new Error('the layout thread sent an unexpected message'));
      else if (m.kind === 'computing') opts.onComputing?.();
      else if (m.kind === 'failed') reject(new Error(`elkjs failed: ${m.message}`));
      else if (m.laid.length === graphs.length) resolve(m.laid);
      else reject(new Error('the layout thread returned the wrong number of layouts'));
    });
    worker.once('error', (err) => reject(new Error(`the layout thread failed: ${err.message}`)));
    worker.once('exit', (code) => reject(new Error(`the layout thread exited with status ${code} before answering`)));
    onAbort = () => reject(new Error('the layout was cancelled'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  const request: LayoutRequest = { kind: 'layout', graphs };
  worker.postMessage(request);
  try {
    return await withTimeout(answered, opts.timeoutMs, 'laying out the statecharts');
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    void worker.terminate().catch(() => undefined);
  }
}
