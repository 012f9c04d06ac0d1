/**
 * The body of the thread that runs elkjs (plain CommonJS, run with `eval: true` so it needs no
 * separate file in the production bundle, as src/pki/pkcs11-worker-source.ts does for PKCS#11).
 * It requires elkjs by the path the caller resolved, says when it starts computing, lays out the
 * graphs it is sent in one message, in order, answers once and is then ended by the caller. All policy (what the graphs are,
 * the deadline) stays in elk-layout-thread.ts; laying out here keeps elkjs's second of pure
 * computation off the daemon's event loop.
 */
export const ELK_LAYOUT_THREAD_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ELK = require(workerData.elkPath);
const elk = new ELK();

parentPort.once('message', async (graphs) => {
  parentPort.postMessage({ kind: 'computing' });
  try {
    const laid = [];
    for (const graph of graphs) laid.push(await elk.layout(graph));
    parentPort.postMessage({ kind: 'done', laid });
  } catch (e) {
    parentPort.postMessage({ kind: 'failed', message: String((e && e.message) || e) });
  }
});
`;
