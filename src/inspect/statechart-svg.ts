import { CHART_FONT, type PlacedState, type PlacedTransition, type Point, type StatechartLayout } from './statechart-layout.ts';
import { escapeXml } from './escape-xml.ts';

/** What to draw besides the chart itself. */
export interface SvgOptions {
  /** Full ids of the active states: their groups get `data-active="true"`. */
  readonly active?: ReadonlySet<string>;
  /** Id of the arrow-head marker; defined by `markerDefs(id)` once per document. */
  readonly markerId: string;
}

/** Colours of transitions by kind, so timers, completions and failures read apart. */
const EDGE_COLOUR: Record<PlacedTransition['kind'], string> = {
  event: '#37474f',
  after: '#8d5b00',
  always: '#607d8b',
  done: '#2e7d32',
  error: '#c62828',
};

const num = (n: number) => String(Math.round(n * 10) / 10);

function pathOf(points: readonly Point[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${num(p.x)} ${num(p.y)}`).join(' ');
}

/** The arrow-head marker every path of a chart points with. */
export function markerDefs(markerId: string): string {
  return (
    `<defs><marker id="${escapeXml(markerId)}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" ` +
    `orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#37474f"/></marker></defs>`
  );
}

function stateGroup(s: PlacedState, active: boolean): string {
  const fill = s.depth === 0 ? '#fafafa' : s.hasChildren ? '#f5f7fa' : '#ffffff';
  const dash = s.region ? ' stroke-dasharray="6 4"' : '';
  const baseline = s.y + 6 + CHART_FONT.size;
  const lines = s.details
    .map(
      (d, i) =>
        `<text class="state-detail" x="${num(s.x + 10)}" y="${num(baseline + (i + 1) * CHART_FONT.lineHeight)}" fill="#546e7a">${escapeXml(d)}</text>`,
    )
    .join('');
  return (
    `<g class="state" data-state-id="${escapeXml(s.id)}" data-kind="${s.kind}"${active ? ' data-active="true"' : ''}>` +
    `<title>${escapeXml(s.id)}</title>` +
    `<rect x="${num(s.x)}" y="${num(s.y)}" width="${num(s.width)}" height="${num(s.height)}" rx="8" ` +
    `fill="${fill}" stroke="#90a4ae" stroke-width="1.2"${dash}/>` +
    `<text class="state-name" x="${num(s.x + 10)}" y="${num(baseline)}" font-weight="bold" fill="#263238">${escapeXml(s.key)}</text>` +
    lines +
    `</g>`
  );
}

function transitionGroup(t: PlacedTransition, markerId: string): string {
  const colour = EDGE_COLOUR[t.kind];
  const dash = t.kind === 'always' ? ' stroke-dasharray="2 3"' : t.kind === 'after' ? ' stroke-dasharray="6 3"' : '';
  const b = t.labelBox;
  return (
    `<g class="transition" data-transition-id="${escapeXml(t.id)}" data-source="${escapeXml(t.source)}" ` +
    `data-target="${escapeXml(t.target)}" data-kind="${t.kind}">` +
    `<path d="${pathOf(t.points)}" fill="none" stroke="${colour}" stroke-width="1.2"${dash} marker-end="url(#${escapeXml(markerId)})"/>` +
    `<rect x="${num(b.x)}" y="${num(b.y)}" width="${num(b.width)}" height="${num(b.height)}" rx="3" fill="#ffffff" fill-opacity="0.85"/>` +
    `<text class="transition-label" x="${num(b.x + 4)}" y="${num(b.y + CHART_FONT.size)}" fill="${colour}">${escapeXml(t.label)}</text>` +
    `</g>`
  );
}

/**
 * The chart's body (states, initial markers, transitions) as SVG elements, without the `<svg>`
 * wrapper: states first so that arrows and labels stay readable on top of nested boxes.
 */
export function statechartBody(layout: StatechartLayout, opts: SvgOptions): string {
  const active = opts.active ?? new Set<string>();
  const states = layout.states.map((s) => stateGroup(s, active.has(s.id))).join('');
  const initials = layout.initials
    .map(
      (i) =>
        `<g class="initial" data-parent="${escapeXml(i.parent)}"><circle cx="${num(i.center.x)}" cy="${num(i.center.y)}" r="5" fill="#37474f"/>` +
        `<path d="${pathOf(i.points)}" fill="none" stroke="#37474f" stroke-width="1.2" marker-end="url(#${escapeXml(opts.markerId)})"/></g>`,
    )
    .join('');
  const transitions = layout.transitions.map((t) => transitionGroup(t, opts.markerId)).join('');
  return `<g class="states">${states}</g><g class="initials">${initials}</g><g class="transitions">${transitions}</g>`;
}

/** One chart as an inline `<svg>` element for the inspector page (the marker is defined elsewhere on the page). */
export function statechartSvg(layout: StatechartLayout, opts: SvgOptions): string {
  const w = num(layout.width);
  const h = num(layout.height);
  return (
    `<svg class="statechart" data-machine="${escapeXml(layout.machineId)}" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" ` +
    `font-family="${escapeXml(CHART_FONT.family)}" font-size="${CHART_FONT.size}" role="img" aria-label="statechart of ${escapeXml(layout.machineId)}">` +
    statechartBody(layout, opts) +
    `</svg>`
  );
}

/** A chart with a caption, for a stand-alone picture of several machines. */
export interface TitledLayout {
  readonly title: string;
  readonly layout: StatechartLayout;
}

/** A stand-alone SVG file: the charts stacked top to bottom, each under its caption. */
export function statechartDocument(charts: readonly TitledLayout[]): string {
  const margin = 16;
  const caption = 28;
  let y = margin;
  let width = 0;
  const parts: string[] = [];
  for (const c of charts) {
    parts.push(
      `<text x="${margin}" y="${num(y + 18)}" font-size="16" font-weight="bold" fill="#263238">${escapeXml(c.title)}</text>`,
      `<g transform="translate(${margin} ${num(y + caption)})" data-machine="${escapeXml(c.layout.machineId)}">` +
        statechartBody(c.layout, { markerId: 'arrow' }) +
        `</g>`,
    );
    y += caption + c.layout.height + margin;
    width = Math.max(width, c.layout.width + 2 * margin);
  }
  const w = num(width);
  const h = num(y);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" ` +
    `font-family="${escapeXml(CHART_FONT.family)}" font-size="${CHART_FONT.size}">\n` +
    `<!-- Generated by pnpm docs:statechart from machines/*.machine.ts; do not edit. -->\n` +
    markerDefs('arrow') +
    `<rect width="${w}" height="${h}" fill="#ffffff"/>\n` +
    parts.join('\n') +
    `\n</svg>\n`
  );
}
