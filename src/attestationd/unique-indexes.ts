import * as z from '../util/zod.ts';

/**
 * The check that no two `measurements` entries share an index (the configuration's measured files,
 * the reference manifest's entries): each repeat is reported at its own path, "index N is <repeated>".
 */
export function uniqueMeasurementIndexes<T extends { readonly measurements: readonly { readonly index: number }[] }>(repeated: string) {
  return z.superRefine<T>((value, ctx) => {
    const seen = new Set<number>();
    value.measurements.forEach((m, i) => {
      if (seen.has(m.index)) ctx.addIssue({ code: 'custom', path: ['measurements', i, 'index'], message: `index ${m.index} is ${repeated}` });
      seen.add(m.index);
    });
  });
}
