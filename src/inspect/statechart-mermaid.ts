import { stateDetails, type ChartState, type StatechartGraph } from './statechart-graph.ts';

/** A machine graph with the caption it gets in the diagram. */
export interface TitledGraph {
  readonly title: string;
  readonly graph: StatechartGraph;
}

/** Mermaid ids must be unique across the diagram and plain: `provisioning.self.Boot` → `provisioning__self__Boot`. */
const mermaidId = (stateId: string) => stateId.replace(/[^A-Za-z0-9_]/g, (c) => (c === '.' ? '__' : '_'));

/** Mermaid labels end at a line break, and `:` / `;` / `#` are syntax: keep labels on one plain line. */
const mermaidText = (text: string) => text.replace(/[\n\r]+/g, ' ').replace(/[:;#]/g, ' ').replace(/"/g, "'");

function emitState(state: ChartState, indent: string, out: string[]): void {
  const id = mermaidId(state.id);
  out.push(`${indent}state "${mermaidText(state.key)}" as ${id}`);
  if (state.children.length === 0) {
    for (const d of stateDetails(state)) out.push(`${indent}${id} : ${mermaidText(d)}`);
    return;
  }
  out.push(`${indent}state ${id} {`);
  const inner = `${indent}  `;
  state.children.forEach((child, i) => {
    if (state.kind === 'parallel' && i > 0) out.push(`${inner}--`);
    emitState(child, inner, out);
    if (child.initial) out.push(`${inner}[*] --> ${mermaidId(child.id)}`);
  });
  out.push(`${indent}}`);
  const notes = stateDetails(state);
  if (notes.length) {
    out.push(`${indent}note right of ${id}`);
    for (const n of notes) out.push(`${indent}  ${mermaidText(n)}`);
    out.push(`${indent}end note`);
  }
}

/**
 * Mermaid `stateDiagram-v2` source for the given machines: nested states, initial markers,
 * parallel regions, every transition labelled by event (and guard); invoked actors and
 * targetless transitions as descriptions or notes. Deterministic.
 */
export function statechartMermaid(graphs: readonly TitledGraph[], header: string): string {
  const out: string[] = [`%% ${header}`, 'stateDiagram-v2'];
  for (const { title, graph } of graphs) {
    out.push(`  %% ${mermaidText(title)}`);
    emitState(graph.root, '  ', out);
    for (const t of graph.transitions) {
      out.push(`  ${mermaidId(t.source)} --> ${mermaidId(t.target)} : ${mermaidText(t.label)}`);
    }
  }
  return `${out.join('\n')}\n`;
}
