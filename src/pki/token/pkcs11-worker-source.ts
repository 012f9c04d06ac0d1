/**
 * The body of the thread that makes every PKCS#11 call (plain CommonJS, run with `eval: true` so
 * it needs no separate file in the production bundle). It only forwards calls to pkcs11js; all
 * policy (templates, error mapping, timeouts) stays in pkcs11-worker-client.ts. Running the calls
 * here keeps a slow or hung token from blocking the daemon's event loop, and lets the caller's
 * timeout fire even when a native call never returns. One message is handled at a time, so one
 * session never sees two operations at once.
 */
export const PKCS11_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const pkcs11js = require(workerData.pkcs11jsPath);
let lib;

// Calls the client may forward verbatim.
const ALLOWED = new Set([
  'C_Initialize', 'C_Finalize', 'C_GetSlotList', 'C_GetTokenInfo', 'C_OpenSession', 'C_CloseSession',
  'C_Login', 'C_GetAttributeValue', 'C_GenerateKeyPair', 'C_GetMechanismList', 'C_DestroyObject',
]);

function toBuffers(v) {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(toBuffers);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    const o = {};
    for (const k of Object.keys(v)) o[k] = toBuffers(v[k]);
    return o;
  }
  return v;
}

const ops = {
  load() {
    lib = new pkcs11js.PKCS11();
    lib.load(workerData.modulePath);
    return null;
  },
  call(p) {
    if (!ALLOWED.has(p.method)) throw new Error('call not allowed: ' + p.method);
    if (!lib) throw new Error('module not loaded');
    const r = lib[p.method](...p.args);
    return r === undefined ? null : r;
  },
  find(p) {
    lib.C_FindObjectsInit(p.session, p.template);
    try {
      return lib.C_FindObjects(p.session, p.max);
    } finally {
      lib.C_FindObjectsFinal(p.session);
    }
  },
  sign(p) {
    lib.C_SignInit(p.session, p.mechanism, p.key);
    return lib.C_Sign(p.session, p.data, Buffer.alloc(512));
  },
};

parentPort.on('message', (m) => {
  let reply;
  try {
    const fn = ops[m.op];
    if (!fn) throw new Error('unknown op ' + m.op);
    reply = { id: m.id, ok: true, result: fn(toBuffers(m.params)) };
  } catch (e) {
    reply = {
      id: m.id,
      ok: false,
      error: { name: String((e && e.name) || 'Error'), message: String((e && e.message) || e), method: String((e && e.method) || '') },
    };
  }
  parentPort.postMessage(reply);
});
`;
