import type { SpdmAttestReport } from './requester-session.ts';

/** Expected measurement values by index (hex, as in the report). */
export type MeasurementManifest = Readonly<Record<number, string>>;

/** One difference between a report and a manifest. */
export interface MeasurementMismatch {
  readonly index: number;
  readonly expected: string | undefined;
  readonly actual: string | undefined;
}

/**
 * Compares a verified report's measurements with reference values: every index in the manifest
 * must be reported with exactly that value (hex, case-insensitive). Indices the manifest does not
 * name are not judged. An empty result means the measurements match.
 */
export function compareMeasurements(report: SpdmAttestReport, manifest: MeasurementManifest): MeasurementMismatch[] {
  const out: MeasurementMismatch[] = [];
  for (const [key, expected] of Object.entries(manifest)) {
    const index = Number(key);
    const actual = report.measurements.find((m) => m.index === index)?.value;
    if (actual?.toLowerCase() !== expected.toLowerCase()) out.push({ index, expected, actual });
  }
  return out;
}
