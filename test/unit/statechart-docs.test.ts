import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { peerMachine } from '../../machines/peer.machine.ts';
import { provisioningMachine } from '../../machines/provisioning.machine.ts';
import { allStates, statechartGraph } from '../../src/inspect/statechart-graph.ts';
import { STARTUP_DEADLINE_MS } from '../harness/startup-deadline.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const STALE = 'docs/statechart.svg / docs/statechart.mmd are stale: run pnpm docs:statechart and commit the result';

describe('docs/statechart.svg and docs/statechart.mmd', () => {
  const out = mkdtempSync(join(tmpdir(), 'statechart-docs-'));
  after(() => rmSync(out, { recursive: true, force: true }), { timeout: 60_000 });

  it('are what pnpm docs:statechart generates from the current machines', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(REPO, 'scripts/statechart-docs.ts'), '--out', out], {
      cwd: REPO,
      // tsx's start-up, then a layout with its own 60 s deadline: nets for a loaded machine, not a measurement.
      timeout: STARTUP_DEADLINE_MS + 60_000,
    });
    assert.match(stdout, /wrote .*statechart\.svg/);
    for (const name of ['statechart.svg', 'statechart.mmd']) {
      const fresh = readFileSync(join(out, name), 'utf8');
      let committed: string;
      try {
        committed = readFileSync(join(REPO, 'docs', name), 'utf8');
      } catch {
        assert.fail(`docs/${name} is missing: run pnpm docs:statechart`);
      }
      assert.ok(fresh === committed, `${STALE} (docs/${name} differs)`);
    }
  });

  it('draw every state and label every transition of both machines', () => {
    const svg = readFileSync(join(REPO, 'docs/statechart.svg'), 'utf8');
    const mmd = readFileSync(join(REPO, 'docs/statechart.mmd'), 'utf8');
    for (const machine of [provisioningMachine, peerMachine]) {
      const graph = statechartGraph(machine);
      for (const s of allStates(graph)) {
        assert.ok(svg.includes(`data-state-id="${s.id}"`), `${s.id} is not drawn`);
        assert.ok(mmd.includes(`state "${s.key}" as`), `${s.id} is not in the Mermaid source`);
      }
      for (const t of graph.transitions) {
        assert.ok(svg.includes(`data-transition-id="${t.id}"`), `transition ${t.id} is not drawn`);
        assert.ok(svg.includes(`>${t.label.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</text>`), `label ${t.label} is missing`);
      }
    }
    assert.match(mmd, /^stateDiagram-v2$/m);
    assert.match(mmd, /provisioning__self__NotProvisioned --> provisioning__self__Issuing : PROVISION_SELF$/m);
    assert.match(mmd, /peer__Link__InProgress --> peer__Link__Connected : LINK_UP$/m);
  });
});
