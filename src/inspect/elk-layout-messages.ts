import type { ElkNode } from 'elkjs/lib/elk-api.js';

/** What the inspector sends its layout worker, once: the graphs to lay out, in order. */
export interface LayoutRequest {
  readonly kind: 'layout';
  readonly graphs: readonly ElkNode[];
}

/** What the layout worker answers: that elkjs is loaded and computing, then the layouts or why there are none. */
export type LayoutReply =
  | { readonly kind: 'computing' }
  | { readonly kind: 'done'; readonly laid: ElkNode[] }
  | { readonly kind: 'failed'; readonly message: string };

/** Checks a message from the worker thread before it is trusted as a LayoutReply. */
export function isLayoutReply(m: unknown): m is LayoutReply {
  if (typeof m !== 'object' || m === null || !('kind' in m)) return false;
  if (m.kind === 'computing') return true;
  if (m.kind === 'done') return 'laid' in m && Array.isArray(m.laid);
  return m.kind === 'failed' && 'message' in m && typeof m.message === 'string';
}
