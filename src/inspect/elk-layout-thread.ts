import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ElkNode } from 'elkjs/lib/elk-api.js';
import { withTimeout } from '../util/with-timeout.ts';
import { ELK_LAYOUT_THREAD_SOURCE } from './elk-layout-thread-source.ts';

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

/** What the thread sends: that it started computing, then the layouts or why there are none. */
type ThreadMessage =
  | { readonly kind: 'computing' }
  | { readonly kind: 'done'; readonly laid: ElkNode[] }
  | { readonly kind: 'failed'; readonly message: string };

function isThreadMessage(m: unknown): m is ThreadMessage {
  const kind = typeof m === 'object' && m !== null ? (m as { kind?: unknown }).kind : undefined;
  return kind === 'computing' || kind === 'done' || kind === 'failed';
}

/** elkjs in one file, as the layout thread requires it. */
const ELK_MODULE = 'elkjs/lib/elk.bundled.js';

/** Where elkjs is, from this module's location: node_modules in a checkout, dist/node_modules in the bundle. */
function resolveElk(): string {
  try {
    return createRequire(import.meta.url).resolve(ELK_MODULE);
  } catch {
    throw new Error(`cannot find ${ELK_MODULE} from ${fileURLToPath(import.meta.url)}`);
  }
}

/**
 * Lays out `graphs` with elkjs on a thread of its own, started for this call and ended when it
 * answers, fails, runs out of time or is aborted, so that the calling thread's event loop stays
 * free. The thread requires elkjs by the path resolved here (see resolveElk; scripts/build.mjs
 * copies it into dist/node_modules); the main thread never loads it. Same graphs in, same
 * numbers out, in the same order.
 */
export async function layoutOnThread(graphs: readonly ElkNode[], opts: ElkThreadOptions): Promise<ElkNode[]> {
  opts.signal?.throwIfAborted();
  const elkPath = resolveElk();
  const worker = new Worker(ELK_LAYOUT_THREAD_SOURCE, {
    eval: true,
    execArgv: [],
    workerData: { elkPath },
    resourceLimits: { maxOldGenerationSizeMb: HEAP_LIMIT_MB },
  });
  // Never what keeps the process alive: the deadline below bounds it, close() aborts it.
  worker.unref();
  let onAbort: () => void = () => undefined;
  const answered = new Promise<ElkNode[]>((resolve, reject) => {
    worker.on('message', (m: unknown) => {
      if (!isThreadMessage(m)) reject(new Error('the layout thread sent an unexpected message'));
      else if (m.kind === 'computing') opts.onComputing?.();
      else if (m.kind === 'failed') reject(new Error(`elkjs failed: ${m.message}`));
      else if (Array.isArray(m.laid) && m.laid.length === graphs.length) resolve(m.laid);
      else reject(new Error('the layout thread returned the wrong number of layouts'));
    });
    worker.once('error', (err) => reject(new Error(`the layout thread failed: ${err.message}`)));
    worker.once('exit', (code) => reject(new Error(`the layout thread exited with status ${code} before answering`)));
    onAbort = () => reject(new Error('the layout was cancelled'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  worker.postMessage(graphs);
  try {
    return await withTimeout(answered, opts.timeoutMs, 'laying out the statecharts');
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    void worker.terminate().catch(() => undefined);
  }
}
