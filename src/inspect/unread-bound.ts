import type { WebSocket } from 'ws';

/**
 * How many bytes a WebSocket peer of the inspector (a page on /live, a Stately endpoint) may leave
 * unread before the inspector ends its connection: a peer that stops reading must not make the
 * daemon buffer without end.
 */
export const MAX_UNREAD_BYTES = 4 * 1024 * 1024;

/**
 * Sends `text` on `ws`, unless more than `maxUnreadBytes` are already queued for it: then the
 * connection is ended instead (its 'close' event follows) and false is returned.
 */
export function sendWithinBound(ws: WebSocket, text: string, maxUnreadBytes: number): boolean {
  if (ws.bufferedAmount > maxUnreadBytes) {
    ws.terminate();
    return false;
  }
  ws.send(text);
  return true;
}
