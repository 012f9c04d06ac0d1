// One trust change against the size of the store: attesting a CA (addAttested) and removing it
// again in a store of 200 CAs, against the same in a store of 2, measured alternately. O(1) means
// a ratio near 1. Also against its floor: the one atomic file write every change needs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrustStore } from '../src/pki/trust/index.ts';
import { writeFileAtomic } from '../src/util/atomic-file.ts';
import { mustRun } from '../test/harness/run-tool.ts';
import { compare } from './harness.ts';

const LARGE = 200;
const N = 30;

const work = mkdtempSync(join(tmpdir(), 'bench-trust-'));
try {
  const key = join(work, 'key.pem');
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  const pems: string[] = [];
  for (let i = 0; i < LARGE + 1; i += 8) {
    const batch = Array.from({ length: Math.min(8, LARGE + 1 - i) }, (_, j) =>
      mustRun('openssl', [
        'req', '-new', '-x509', '-key', key, '-subj', `/CN=bench CA ${i + j}`, '-days', '1',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign',
      ]),
    );
    pems.push(...(await Promise.all(batch)));
  }
  const probe = pems[LARGE] ?? '';
  const small = new TrustStore({ dir: join(work, 'small') });
  const large = new TrustStore({ dir: join(work, 'large') });
  await small.reload();
  await large.reload();
  for (const pem of pems.slice(0, 2)) await small.addAttested(pem, 'bmc-x');
  for (const [i, pem] of pems.slice(0, LARGE).entries()) await large.addAttested(pem, `bmc-${i}`);
  small.watch();
  large.watch();
  const change = (store: TrustStore) => async () => {
    const ca = await store.addAttested(probe, 'bmc-probe');
    await store.remove(ca.fingerprint);
  };
  await compare({
    name: `addAttested + remove of one CA, store of ${LARGE} CAs`,
    op: change(large),
    baselineName: 'addAttested + remove of one CA, store of 2 CAs',
    baseline: change(small),
    n: N,
    warmup: 3,
    timeoutMs: 30_000,
  });
  let k = 0;
  await compare({
    name: `addAttested + remove of one CA, store of ${LARGE} CAs`,
    op: change(large),
    baselineName: 'floor: one atomic write of the CA file (fsync, rename, directory fsync)',
    baseline: () => writeFileAtomic({ path: join(work, `floor-${k++ % 2}.pem`), data: probe, mode: 0o644 }),
    n: N,
    warmup: 3,
    timeoutMs: 30_000,
  });
  small.close();
  large.close();
} finally {
  rmSync(work, { recursive: true, force: true });
}
