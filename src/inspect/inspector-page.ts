import { escapeXml } from './escape-xml.ts';
import type { ActorView, InspectorView, LogEntry } from './inspector-view.ts';
import type { StatechartLayout } from './statechart-layout.ts';
import { markerDefs, statechartSvg } from './statechart-svg.ts';

/** A machine's chart as the page draws it, with its caption; no layout when elkjs failed (the page then shows the state without the picture). */
export interface PageChart {
  readonly title: string;
  readonly layout?: StatechartLayout;
}

/** What the page is rendered from: the charts by machine id, the current view, and the asset paths. */
export interface PageInput {
  readonly charts: ReadonlyMap<string, PageChart>;
  /** The daemon's machine id: its chart comes first and is never a placeholder. */
  readonly rootMachineId: string;
  readonly view: InspectorView;
  readonly scriptPath: string;
  readonly stylePath: string;
}

/** The id shared by every chart's arrow heads on the page. */
export const PAGE_MARKER_ID = 'inspector-arrow';

const json = (v: unknown) => JSON.stringify(v, null, 2) ?? '';

/** The chart's picture, or a note in its place when it could not be laid out. */
function chartPicture(chart: PageChart, active?: ReadonlySet<string>): string {
  if (!chart.layout) return `<p class="no-chart" data-role="no-chart">the chart could not be laid out (see the daemon log)</p>`;
  return statechartSvg(chart.layout, { ...(active ? { active } : {}), markerId: PAGE_MARKER_ID });
}

/** Log times as UTC clock time with milliseconds (the page's script formats them the same way). */
export const clockTime = (ms: number) => new Date(ms).toISOString().slice(11, 23);

function actorArticle(chart: PageChart, machineId: string, actor: ActorView | undefined): string {
  const active = new Set(actor?.activeStateIds ?? []);
  const attrs = actor
    ? ` data-actor="${escapeXml(actor.sessionId)}" data-label="${escapeXml(actor.label)}" data-status="${escapeXml(actor.status)}"`
    : '';
  return (
    `<article class="actor" data-machine="${escapeXml(machineId)}"${attrs}>` +
    `<h2><span data-role="label">${escapeXml(actor?.label ?? machineId)}</span> ` +
    `<span class="state-value" data-role="state">${escapeXml(actor?.state ?? '')}</span> ` +
    `<span class="status" data-role="status">${escapeXml(actor?.status ?? '')}</span></h2>` +
    `<p class="caption">${escapeXml(chart.title)}</p>` +
    `<div class="actor-body"><div class="chart">${chartPicture(chart, active)}</div>` +
    `<section class="context"><h3>context</h3><pre data-role="context">${escapeXml(actor ? json(actor.context) : '')}</pre></section></div>` +
    `</article>`
  );
}

/** A machine with no running actor yet (the peer machine before any peer exists): drawn, nothing lit. */
function definitionArticle(chart: PageChart, machineId: string): string {
  return (
    `<article class="definition" data-definition="${escapeXml(machineId)}">` +
    `<h2>${escapeXml(machineId)} <span class="status">no actor running this machine yet</span></h2>` +
    `<p class="caption">${escapeXml(chart.title)}</p>` +
    `<div class="chart">${chartPicture(chart)}</div>` +
    `</article>`
  );
}

/** One row of the event log; the page's script builds the same cells. */
export function logRow(e: LogEntry): string {
  return (
    `<tr data-seq="${e.seq}">` +
    `<td class="time" title="${new Date(e.time).toISOString()}">${clockTime(e.time)}</td>` +
    `<td class="type" data-role="type">${escapeXml(e.type)}</td>` +
    `<td data-role="source">${escapeXml(e.source)}</td>` +
    `<td data-role="target">${escapeXml(e.target)}</td>` +
    `<td data-role="state">${escapeXml(e.state ?? '…')}</td>` +
    `<td class="payload" data-role="payload">${escapeXml(e.payload && Object.keys(e.payload).length ? JSON.stringify(e.payload) : '')}</td>` +
    `</tr>`
  );
}

/**
 * The inspector page with the current snapshot already rendered in it (active states carry
 * `data-active="true"`), so it is right before any script runs, and `chromium --dump-dom` shows it.
 * The script then keeps it live. Nothing is loaded from anywhere but the daemon.
 */
export function inspectorPage(input: PageInput): string {
  const { view, charts } = input;
  const articles: string[] = [];
  const machines = [...charts.keys()].sort((a, b) => Number(b === input.rootMachineId) - Number(a === input.rootMachineId));
  for (const machineId of machines) {
    const chart = charts.get(machineId);
    if (!chart) continue;
    const actors = view.actors.filter((a) => a.machineId === machineId);
    if (actors.length === 0) articles.push(definitionArticle(chart, machineId));
    for (const a of actors) articles.push(actorArticle(chart, machineId, a));
  }
  const templates = machines
    .map((m) => {
      const chart = charts.get(m);
      return chart ? `<template id="actor-template-${escapeXml(m)}">${actorArticle(chart, m, undefined)}</template>` : '';
    })
    .join('');
  const s = view.summary;
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>provisioningd inspector</title>` +
    `<link rel="icon" href="data:,">` +
    `<link rel="stylesheet" href="${escapeXml(input.stylePath)}">` +
    `<script type="module" src="${escapeXml(input.scriptPath)}"></script>` +
    `</head><body data-log-limit="${view.logLimit}">` +
    `<header><h1>provisioningd inspector</h1>` +
    `<dl class="summary">` +
    `<dt>provisioned</dt><dd data-dbus-property="provisioned">${s ? String(s.provisioned) : '?'}</dd>` +
    `<dt>peerConnected</dt><dd data-dbus-property="peerConnected">${escapeXml(s?.peerConnected ?? '?')}</dd>` +
    `</dl>` +
    `<span class="connection" id="connection" data-connection="static">snapshot at ${escapeXml(new Date().toISOString())}</span>` +
    `</header>` +
    `<svg class="defs" width="0" height="0" aria-hidden="true">${markerDefs(PAGE_MARKER_ID)}</svg>` +
    `<main><section id="actors">${articles.join('')}</section>` +
    `<section id="events"><h2>events <span class="caption">newest first, last ${view.logLimit}</span></h2>` +
    `<table><thead><tr><th>time (UTC)</th><th>event</th><th>source</th><th>target</th><th>resulting state</th><th>data</th></tr></thead>` +
    `<tbody id="log-body">${view.log.map(logRow).join('')}</tbody></table></section></main>` +
    templates +
    `</body></html>\n`
  );
}
