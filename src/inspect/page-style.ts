/** The inspector page's stylesheet, served by the daemon as /inspector.css (kept in code so the bundle carries it). */
export const PAGE_STYLE = `
:root { color-scheme: light; --ink: #263238; --muted: #607d8b; --line: #cfd8dc; --lit: #2e7d32; --lit-bg: #e8f5e9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #eceff1; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 1.5rem; padding: .6rem 1rem; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
h1 { font-size: 1.15rem; margin: 0; }
h2 { font-size: 1rem; margin: 0 0 .2rem; display: flex; gap: .8rem; align-items: baseline; flex-wrap: wrap; }
h3 { font-size: .85rem; margin: 0 0 .3rem; color: var(--muted); font-weight: 600; }
.summary { display: flex; gap: .4rem 1rem; margin: 0; }
.summary dt { color: var(--muted); }
.summary dd { margin: 0; font-weight: 600; font-family: ui-monospace, monospace; }
.summary dd[data-dbus-property="peerConnected"] { color: #1565c0; }
.connection { margin-left: auto; font-size: .8rem; color: var(--muted); }
.connection[data-connection="live"] { color: var(--lit); }
.connection[data-connection="lost"] { color: #c62828; font-weight: 600; }
svg.defs { position: absolute; }
main { padding: .8rem 1rem 2rem; display: grid; gap: 1rem; }
#actors { display: grid; grid-template-columns: repeat(auto-fit, minmax(34rem, 1fr)); gap: 1rem; align-items: start; }
article { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .7rem .9rem; min-width: 0; }
.caption { color: var(--muted); font-size: .8rem; margin: 0 0 .5rem; font-weight: normal; }
.state-value { font-family: ui-monospace, monospace; color: var(--lit); }
.status { font-size: .8rem; color: var(--muted); font-weight: normal; }
.actor-body { display: flex; gap: .8rem; align-items: flex-start; }
.chart { overflow: auto; flex: 1 1 auto; min-width: 0; }
.context { flex: 0 0 16rem; min-width: 0; }
.no-chart { margin: 0; color: #8d5b00; font-style: italic; }
svg.statechart { display: block; width: auto; height: auto; max-width: 100%; max-height: 62vh; margin: 0 auto; }
.context pre { margin: 0; max-height: 62vh; font-size: 11px; overflow: auto; background: #f5f7f8; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; }
svg.statechart g.state rect { transition: fill .2s, stroke .2s; }
svg.statechart g.state[data-active="true"] > rect { stroke: var(--lit); stroke-width: 2.5px; }
svg.statechart g.state[data-active="true"][data-kind="atomic"] > rect { fill: var(--lit-bg); stroke-width: 3px; }
svg.statechart g.state[data-active="true"] > text.state-name { fill: var(--lit); }
#events { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .7rem .9rem; overflow: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid #eceff1; vertical-align: top; }
th { color: var(--muted); font-weight: 600; position: sticky; top: 0; background: #fff; }
td.time, td.type, td.payload, td[data-role="state"] { font-family: ui-monospace, monospace; }
td.payload { color: var(--muted); max-width: 40rem; overflow-wrap: anywhere; }
tr.fresh { animation: fresh 1.5s ease-out; }
@keyframes fresh { from { background: #fff8e1; } to { background: transparent; } }
`;
