/**
 * `pnpm docs:statechart`: writes docs/statechart.svg and docs/statechart.mmd from the machine
 * definitions. `--out DIR` writes into another directory (the staleness test uses a temp dir).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { renderStatechartDocs } from '../src/inspect/statechart-docs.ts';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const outDir = resolve(values.out ?? join(import.meta.dirname, '..', 'docs'));

const docs = await renderStatechartDocs();
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'statechart.svg'), docs.svg);
writeFileSync(join(outDir, 'statechart.mmd'), docs.mermaid);
process.stdout.write(`wrote ${join(outDir, 'statechart.svg')} and ${join(outDir, 'statechart.mmd')}\n`);
