import { Worker } from 'node:worker_threads';
import type { Pkcs11WorkerData } from './pkcs11-worker-protocol.ts';

/** TEMPORARY until src/util/module-worker.ts lands: starts pkcs11-worker.ts from source through tsx. */
export function startPkcs11Worker(data: Pkcs11WorkerData): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  const url = new URL('./pkcs11-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(api)}).then((api) => api.tsImport(${JSON.stringify(url)}, ${JSON.stringify(import.meta.url)}))`, {
    eval: true,
    execArgv: [],
    workerData: data,
  });
}
