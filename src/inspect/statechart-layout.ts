import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import { layoutOnThread, type ElkThreadOptions } from './elk-layout-thread.ts';
import { stateDetails, type ChartState, type ChartTransition, type StatechartGraph } from './statechart-graph.ts';

/** Text metrics of the picture: a monospace font, so widths are known without a browser. */
export const CHART_FONT = {
  family: 'DejaVu Sans Mono, Menlo, Consolas, monospace',
  size: 12,
  /** Advance of one character at `size` (DejaVu Sans Mono: 0.602 em), a little generous. */
  charWidth: 7.3,
  lineHeight: 16,
} as const;

/** A point of the picture, in SVG user units. */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/** A rectangle of the picture, in SVG user units, absolute. */
export interface Box extends Point {
  readonly width: number;
  readonly height: number;
}

/** A state placed on the picture, with the lines written in its header. */
export interface PlacedState extends Box, Pick<ChartState, 'id' | 'key' | 'kind'> {
  readonly depth: number;
  /** A region of a parallel state (drawn dashed: all regions are active at once). */
  readonly region: boolean;
  /** Lines under the name: invoked actors and targetless transitions. */
  readonly details: readonly string[];
  readonly hasChildren: boolean;
}

/** The initial-state marker of a compound state (the filled dot with an arrow). */
export interface PlacedInitial {
  readonly parent: string;
  readonly target: string;
  readonly center: Point;
  readonly points: readonly Point[];
}

/** A transition routed on the picture: its polyline and where its label sits. */
export interface PlacedTransition extends ChartTransition {
  readonly points: readonly Point[];
  readonly labelBox: Box;
}

/** A whole machine laid out: what the SVG renderer draws, coordinates rounded for stable output. */
export interface StatechartLayout {
  readonly machineId: string;
  readonly width: number;
  readonly height: number;
  /** Parents before children, so drawing in order puts children on top. */
  readonly states: readonly PlacedState[];
  readonly initials: readonly PlacedInitial[];
  readonly transitions: readonly PlacedTransition[];
}

const PAD_X = 10;
const PAD_Y = 6;
const INITIAL_SIZE = 10;
const MIN_WIDTH = 90;
const LABEL_PAD = 4;

const round = (n: number | undefined) => Math.round((n ?? 0) * 10) / 10;
const textWidth = (text: string) => text.length * CHART_FONT.charWidth;
const initialNodeId = (parent: string) => `${parent}/initial`;


function headerSize(state: ChartState): { width: number; height: number } {
  const lines = [state.key, ...stateDetails(state)];
  const width = Math.max(MIN_WIDTH, ...lines.map(textWidth)) + 2 * PAD_X;
  return { width: Math.ceil(width), height: lines.length * CHART_FONT.lineHeight + 2 * PAD_Y };
}

/** Options of every level of the graph (ELK does not inherit them): layered, top-down, orthogonal arrows. */
const LAYOUT_OPTIONS = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.spacing.nodeNode': '28',
  'elk.layered.spacing.nodeNodeBetweenLayers': '36',
  'elk.spacing.edgeLabel': '4',
  'elk.spacing.edgeNode': '14',
  'elk.layered.spacing.edgeNodeBetweenLayers': '14',
  'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
  'elk.layered.cycleBreaking.strategy': 'DEPTH_FIRST',
  'elk.randomSeed': '1',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
} as const;

function toElkNode(state: ChartState, initialEdges: ElkExtendedEdge[]): ElkNode {
  const header = headerSize(state);
  if (state.children.length === 0) return { id: state.id, width: header.width, height: header.height };
  const children: ElkNode[] = [];
  const initialChild = state.kind === 'parallel' ? undefined : state.children.find((c) => c.initial);
  if (initialChild) {
    const id = initialNodeId(state.id);
    children.push({ id, width: INITIAL_SIZE, height: INITIAL_SIZE });
    initialEdges.push({ id: `${id}->`, sources: [id], targets: [initialChild.id] });
  }
  for (const c of state.children) children.push(toElkNode(c, initialEdges));
  return {
    id: state.id,
    layoutOptions: {
      ...LAYOUT_OPTIONS,
      'elk.padding': `[top=${header.height + 8},left=12,bottom=12,right=12]`,
      'elk.nodeSize.constraints': 'MINIMUM_SIZE',
      'elk.nodeSize.minimum': `(${header.width},${header.height + 20})`,
    },
    children,
  };
}

function pointsOf(edge: ElkExtendedEdge): Point[] {
  const out: Point[] = [];
  for (const s of edge.sections ?? []) {
    out.push({ x: round(s.startPoint.x), y: round(s.startPoint.y) });
    for (const b of s.bendPoints ?? []) out.push({ x: round(b.x), y: round(b.y) });
    out.push({ x: round(s.endPoint.x), y: round(s.endPoint.y) });
  }
  return out;
}

/** A machine graph in ELK's input form, with the initial-marker edges its result is read back by. */
interface ElkInput {
  readonly graph: StatechartGraph;
  readonly elk: ElkNode;
  readonly initialEdges: readonly ElkExtendedEdge[];
}

function elkInputOf(graph: StatechartGraph): ElkInput {
  const initialEdges: ElkExtendedEdge[] = [];
  const rootNode = toElkNode(graph.root, initialEdges);
  const transitionEdges: ElkExtendedEdge[] = graph.transitions.map((t) => ({
    id: t.id,
    sources: [t.source],
    targets: [t.target],
    labels: [{ id: `${t.id}/label`, text: t.label, width: Math.ceil(textWidth(t.label)) + 2 * LABEL_PAD, height: CHART_FONT.lineHeight }],
  }));
  const elk: ElkNode = {
    id: `${graph.machineId}/graph`,
    layoutOptions: { ...LAYOUT_OPTIONS },
    children: [rootNode],
    edges: [...initialEdges, ...transitionEdges],
  };
  return { graph, elk, initialEdges };
}

/** What elkjs is given for a machine graph (layered, hierarchical, sizes from the text metrics). */
export function elkGraphOf(graph: StatechartGraph): ElkNode {
  return elkInputOf(graph).elk;
}

/**
 * Lays out machine graphs with elkjs (layered, hierarchical): nested states as boxes inside
 * their parents, an initial marker per compound state, every transition routed with its label.
 * elkjs runs on a thread of its own (elk-layout-thread.ts), so the caller's event loop stays free
 * while it computes. Same graphs in, same numbers out, in the same order.
 */
export async function layoutStatecharts(graphs: readonly StatechartGraph[], opts: ElkThreadOptions): Promise<StatechartLayout[]> {
  const inputs = graphs.map(elkInputOf);
  const laid = await layoutOnThread(
    inputs.map((i) => i.elk),
    opts,
  );
  return inputs.map((input, i) => {
    const out = laid[i];
    if (!out) throw new Error(`layout lost machine ${input.graph.machineId}`);
    return placedLayout(input, out);
  });
}

/** Reads elkjs's result back into what the SVG renderer draws, rounded for stable output. */
function placedLayout({ graph, initialEdges }: ElkInput, laid: ElkNode): StatechartLayout {
  const byId = new Map<string, ElkNode>();
  const index = (n: ElkNode) => {
    byId.set(n.id, n);
    for (const c of n.children ?? []) index(c);
  };
  index(laid);

  const states: PlacedState[] = [];
  const place = (s: ChartState, depth: number, region: boolean) => {
    const n = byId.get(s.id);
    if (!n) throw new Error(`layout lost state ${s.id}`);
    states.push({
      id: s.id,
      key: s.key,
      kind: s.kind,
      depth,
      region,
      details: stateDetails(s),
      hasChildren: s.children.length > 0,
      x: round(n.x),
      y: round(n.y),
      width: round(n.width),
      height: round(n.height),
    });
    for (const c of s.children) place(c, depth + 1, s.kind === 'parallel');
  };
  place(graph.root, 0, false);

  const edgesById = new Map((laid.edges ?? []).map((e) => [e.id, e]));
  const initials: PlacedInitial[] = [];
  for (const e of initialEdges) {
    const parent = e.id.slice(0, -'/initial->'.length);
    const dot = byId.get(initialNodeId(parent));
    const routed = edgesById.get(e.id);
    const target = e.targets[0];
    if (!dot || !routed || target === undefined) continue;
    initials.push({
      parent,
      target,
      center: { x: round((dot.x ?? 0) + INITIAL_SIZE / 2), y: round((dot.y ?? 0) + INITIAL_SIZE / 2) },
      points: pointsOf(routed),
    });
  }

  const transitions: PlacedTransition[] = graph.transitions.map((t) => {
    const routed = edgesById.get(t.id);
    const label = routed?.labels?.[0];
    return {
      ...t,
      points: routed ? pointsOf(routed) : [],
      labelBox: { x: round(label?.x), y: round(label?.y), width: round(label?.width), height: round(label?.height) },
    };
  });

  return { machineId: graph.machineId, width: round(laid.width), height: round(laid.height), states, initials, transitions };
}
