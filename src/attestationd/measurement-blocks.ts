import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.ts';
import type { MeasuredFile } from './config-schema.ts';
import { PROVISIONING_CA_INDEX, VALUE_TYPE } from './names.ts';
import { errorMessage } from '../util/error-message.ts';

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
}

/** SHA-256 of a file's contents. */
export async function fileDigest(file: string): Promise<Uint8Array> {
  return new Uint8Array(createHash('sha256').update(await readFile(file)).digest());
}

/**
 * The blocks served for one GET_MEASUREMENTS, read fresh each time: one SHA-256 digest block per
 * configured file (a file that cannot be read is left out, so the requester's manifest check fails
 * on it), and block 0xEF carrying the provisioning CA certificate as a raw bit stream (DER), left
 * out while this BMC has none. Nothing here throws.
 */
export async function measurementBlocks(src: MeasurementSources): Promise<ServedBlock[]> {
  const blocks: ServedBlock[] = [];
  for (const m of src.files) {
    try {
      blocks.push({ index: m.index, valueType: VALUE_TYPE[m.kind], raw: false, value: await fileDigest(m.file) });
    } catch (err) {
      src.log.warn(`measurement ${m.index}: cannot read ${m.file}: ${errorMessage(err)}`, {
        code: 'MEASUREMENT_UNREADABLE',
      });
    }
  }
  try {
    const cert = new X509Certificate(await readFile(src.provisioningCaFile));
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
