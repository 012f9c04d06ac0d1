// What the package costs an image's flash: `pnpm package`, then the parts' sizes from
// pkg/sizes.json, raw and xz-compressed (tar | xz -9, as a compressed image file system roughly
// pays), against the goal of at most 1 MiB xz for the daemons' part (the .deb's whole tree: bundles,
// pkcs11js addon, units, policies, default configuration, docs). Node itself is not counted.
// Exits non-zero when the daemons' part is over the goal.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../test/harness/daemon.ts';
import { buildPackage } from '../test/harness/systemd-container.ts';
import { formatFigure } from './harness.ts';

/** The budget of the daemons' part on the image, xz-compressed. */
const GOAL_XZ_BYTES = 1024 * 1024;

/** pkg/sizes.json as scripts/package.mjs writes it. */
interface PackageSizes {
  readonly daemons: { readonly bytes: number; readonly xz: number; readonly libXz: number };
  readonly inspector: { readonly bytes: number; readonly xz: number };
  readonly sourcemaps: { readonly bytes: number; readonly xz: number };
  readonly debs: { readonly provisioningd: number; readonly inspector: number };
}

const deb = await buildPackage(REPO);
const sizes = JSON.parse(readFileSync(join(REPO, 'pkg/sizes.json'), 'utf8')) as PackageSizes;
const kib = (bytes: number) => bytes / 1024;
const figures = [
  { name: "daemons' part, /usr/lib/provisioningd (raw)", value: kib(sizes.daemons.bytes), unit: 'KiB' },
  { name: "daemons' part, /usr/lib/provisioningd (xz)", value: kib(sizes.daemons.libXz), unit: 'KiB' },
  {
    name: "daemons' part, the whole package tree (xz)",
    value: kib(sizes.daemons.xz),
    unit: 'KiB',
    ratio: { value: sizes.daemons.xz / GOAL_XZ_BYTES, against: 'the 1 MiB goal' },
  },
  { name: 'inspector part, with elkjs (raw)', value: kib(sizes.inspector.bytes), unit: 'KiB' },
  { name: 'inspector part, with elkjs (xz)', value: kib(sizes.inspector.xz), unit: 'KiB' },
  { name: 'source maps, shipped apart (raw)', value: kib(sizes.sourcemaps.bytes), unit: 'KiB' },
  { name: 'source maps, shipped apart (xz)', value: kib(sizes.sourcemaps.xz), unit: 'KiB' },
  { name: deb.split('/').at(-1) ?? deb, value: kib(sizes.debs.provisioningd), unit: 'KiB' },
  { name: 'provisioningd-inspector .deb', value: kib(sizes.debs.inspector), unit: 'KiB' },
];
for (const f of figures) console.log(formatFigure(f));
if (sizes.daemons.xz > GOAL_XZ_BYTES) {
  console.error(`package: the daemons' part is ${kib(sizes.daemons.xz).toFixed(0)} KiB xz, over the 1 MiB goal`);
  process.exit(1);
}
