/*
 * zod's light build (zod/mini), configured: import zod from here only, as `import * as z`.
 * The same validation core as classic zod without its chained methods, so a daemon loads about a
 * fifth of the code (measured: about 7 ms of cold start and 1.5 MiB of heap less). It has no
 * messages of its own: English is configured here, giving the messages of classic zod
 * (docs/configuration.md quotes them). jitless: a schema is parsed once or a few times per start,
 * where compiling a fast path with new Function costs more than it saves (and no code is
 * generated at run time).
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config({ ...en(), jitless: true });

export * from 'zod/mini';
