import type { ChartState } from './statechart-graph.ts';

/**
 * The full ids of every active state (the root and each active ancestor included) for a state
 * value, e.g. `{ self: { Provisioned: 'Ready' } }` → `provisioning`, `provisioning.self`,
 * `provisioning.self.Provisioned`, `provisioning.self.Provisioned.Ready`. Unknown names are
 * ignored, so a value from another version of the machine never throws.
 */
export function activeStateIds(root: ChartState, value: unknown): string[] {
  const out: string[] = [root.id];
  const walk = (node: ChartState, v: unknown) => {
    if (typeof v === 'string') {
      const child = node.children.find((c) => c.key === v);
      if (child) out.push(child.id);
      return;
    }
    if (!v || typeof v !== 'object') return;
    for (const [key, sub] of Object.entries(v)) {
      const child = node.children.find((c) => c.key === key);
      if (!child) continue;
      out.push(child.id);
      walk(child, sub);
    }
  };
  walk(root, value);
  return out;
}

/** A state value as one line: `self.Provisioned.Ready`, regions joined with `, `. */
export function formatStateValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object') return '';
  const parts = Object.entries(value).map(([k, v]) => {
    const inner = formatStateValue(v);
    if (!inner) return k;
    return v && typeof v === 'object' && Object.keys(v).length > 1 ? `${k}.(${inner})` : `${k}.${inner}`;
  });
  return parts.join(', ');
}
