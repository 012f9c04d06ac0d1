/**
 * The inspector's layout worker: a thread of its own that runs elkjs, so that elkjs's second of
 * pure computation stays off the daemon's event loop. It loads elkjs, waits for one LayoutRequest,
 * says when it starts computing, lays the graphs out in order, answers once and is then ended by
 * its caller. All policy (what the graphs are, the deadline, the heap cap) stays in
 * elk-layout-thread.ts.
 *
 * elkjs is required at run time, by the path resolved from this module (node_modules in a
 * checkout, dist/node_modules in the bundle, where scripts/build.mjs copies it), not imported:
 * src/inspect/ imports only elkjs's types, so that nothing on the main thread can load it.
 */
import { createRequire } from 'node:module';
import type { ELK, ELKConstructorArguments, ElkNode } from 'elkjs/lib/elk-api.js';
import { workerPort } from '../util/worker-port.ts';
import type { LayoutReply, LayoutRequest } from './elk-layout-messages.ts';
import { errorMessage } from '../util/error-message.ts';

/** What elkjs's one-file build exports (elk-api.d.ts declares it, but as a default export of that file). */
type ElkConstructor = new (args?: ELKConstructorArguments) => ELK;

const Elk = createRequire(import.meta.url)('elkjs/lib/elk.bundled.js') as ElkConstructor;
const elk = new Elk();
const port = workerPort<LayoutRequest, LayoutReply>();

port.onRequest(async (request) => {
  port.send({ kind: 'computing' });
  try {
    const laid: ElkNode[] = [];
    for (const graph of request.graphs) laid.push(await elk.layout(graph));
    port.send({ kind: 'done', laid });
  } catch (e) {
    port.send({ kind: 'failed', message: errorMessage(e) });
  }
});
