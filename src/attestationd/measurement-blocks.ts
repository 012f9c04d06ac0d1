import { createHash, X509Certificate } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { MeasuredFile } from './config-schema.ts';
import { PROVISIONING_CA_INDEX, VALUE_TYPE } from './names.ts';
import { errorMessage } from '../util/error-message.ts';
import { readBytesWithin } from '../util/read-file-within.ts';

/** One DMTF measurement block as the SPDM responder serves it (the shape of src/spdm's MeasurementBlock). */
export interface ServedBlock {
  readonly index: number;
  readonly valueType: number;
  readonly raw: boolean;
  readonly value: Uint8Array;
}

/** What the responder measures: the configured files, and where this BMC's provisioning CA is. */
export interface MeasurementSources {
  readonly files: readonly MeasuredFile[];
  /** `<cert_root>etc/ssl/certs/self_ca.pem`. */
  readonly provisioningCaFile: string;
  readonly log: Logger;
  /** Deadline of each file's read; default FILE_READ_TIMEOUT_MS. */
  readonly readTimeoutMs?: number;
}

/** SHA-256 of a file's contents, read within `timeoutMs` (default FILE_READ_TIMEOUT_MS). */
export async function fileDigest(file: string, timeoutMs?: number): Promise<Uint8Array> {
  const bytes = await readBytesWithin(file, timeoutMs === undefined ? {} : { timeoutMs });
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

/**
 * The blocks served for one GET_MEASUREMENTS, read fresh each time: one SHA-256 digest block per
 * configured file (a file that cannot be read, or whose read did not end by its deadline, is left
 * out, so the requester's manifest check fails on it; a read that hangs is joined by the next
 * request's rather than started again), and block 0xEF carrying the provisioning CA certificate as a raw bit stream (DER), left
 * out while this BMC has none. Nothing here throws.
 */
export async function measurementBlocks(src: MeasurementSources): Promise<ServedBlock[]> {
  const blocks: ServedBlock[] = [];
  for (const m of src.files) {
    try {
      blocks.push({ index: m.index, valueType: VALUE_TYPE[m.kind], raw: false, value: await fileDigest(m.file, src.readTimeoutMs) });
    } catch (err) {
      src.log.warn(`measurement ${m.index}: cannot read ${m.file}: ${errorMessage(err)}`, {
        code: 'MEASUREMENT_UNREADABLE',
      });
    }
  }
  try {
    const cert = new X509Certificate(await readBytesWithin(src.provisioningCaFile, src.readTimeoutMs === undefined ? {} : { timeoutMs: src.readTimeoutMs }));
    blocks.push({ index: PROVISIONING_CA_INDEX, valueType: VALUE_TYPE.configuration, raw: true, value: new Uint8Array(cert.raw) });
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    src.log[missing ? 'debug' : 'warn'](
      `no provisioning CA to serve (${src.provisioningCaFile}): ${missing ? 'not provisioned yet' : errorMessage(err)}`,
      { code: 'NO_PROVISIONING_CA' },
    );
  }
  return blocks.sort((a, b) => a.index - b.index);
}
