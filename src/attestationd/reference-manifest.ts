import { readTextWithin } from '../util/read-file-within.ts';
import * as z from '../util/zod.ts';
import { PROVISIONING_CA_INDEX } from './names.ts';
import { uniqueMeasurementIndexes } from './unique-indexes.ts';
import { errorMessage, errorFirstLine } from '../util/error-message.ts';

const sha256Hex = z.pipe(
  z.string().check(z.regex(/^[0-9a-fA-F]{64}$/, 'must be a SHA-256 digest: 64 hex digits')),
  z.transform((s: string) => s.toLowerCase()),
);

/** One reference entry: the digests a measurement index may have (several firmware versions, per-BMC configs). */
export const referenceEntrySchema = z.object({
  index: z.int().check(z.minimum(1), z.maximum(PROVISIONING_CA_INDEX - 1, `must be 1 to ${PROVISIONING_CA_INDEX - 1} (${PROVISIONING_CA_INDEX} carries the provisioning CA, not a reference value)`)),
  description: z.optional(z.string().check(z.maxLength(200))),
  sha256: z.array(sha256Hex).check(z.minLength(1)),
});

/**
 * The reference manifest: every measurement a peer must report, each with its accepted SHA-256
 * digests. Nothing outside it may be reported (besides the provisioning CA block).
 */
export const referenceManifestSchema = z
  .object({ version: z.literal(1), measurements: z.array(referenceEntrySchema).check(z.minLength(1), z.maxLength(64)) })
  .check(uniqueMeasurementIndexes('listed twice'));

/** A validated reference manifest. */
export type ReferenceManifest = z.infer<typeof referenceManifestSchema>;

/** Why the manifest cannot be used: attestation fails with this reason, the service keeps running. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  readonly code = 'MANIFEST_INVALID';
}

const MAX_MANIFEST_BYTES = 256 * 1024;

/** Reads and validates the manifest (fresh for every attestation, so an update needs no restart). */
export async function loadReferenceManifest(path: string): Promise<ReferenceManifest> {
  let text: string;
  try {
    text = await readTextWithin(path, { maxBytes: MAX_MANIFEST_BYTES });
  } catch (err) {
    throw new ManifestError(`reference manifest ${path}: ${errorMessage(err)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`reference manifest ${path}: not valid JSON: ${errorFirstLine(err)}`);
  }
  const parsed = referenceManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('') || '(top level)';
    throw new ManifestError(`reference manifest ${path}: field "${field.replace(/^\./, '')}": ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
