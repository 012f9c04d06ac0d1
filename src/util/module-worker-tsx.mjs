// Loaded with `--import` into a module worker started from source (src/util/module-worker.ts), so
// that the worker can run its TypeScript module. Plain JavaScript because it is what makes
// TypeScript loadable. tsx's own `--import tsx` does not hook a worker's entry module on Node 20;
// registering tsx's ESM API from inside the worker does. Never used by the production bundle.
import { register } from 'tsx/esm/api';

register();
