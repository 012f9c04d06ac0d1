#!/usr/bin/env node
// `pnpm package`: the install tree as it lands on a BMC image, and Debian packages of it.
//
//   pkg/root/            the daemons' part: /usr/lib/provisioningd/ (the minified bundles of the
//                        three programs, the PKCS#11 worker, their chunks, node_modules/pkcs11js with
//                        its stripped addon, node_modules/xml2js), the systemd units, the D-Bus policies, the default
//                        configuration (/usr/share/provisioningd/) and the README with the docs/ tree
//                        (/usr/share/doc/provisioningd/)
//   pkg/inspector-root/  the inspector's part (its chunk, its layout worker, elkjs): the daemons load
//                        it only when inspect_port is set, and run without it
//   pkg/provisioningd-sourcemaps_<version>.tar.xz  every .js.map, laid out to unpack at / beside the bundles
//   pkg/provisioningd-root-<version>.tar.xz, pkg/provisioningd-inspector-root-<version>.tar.xz  the two
//                        trees as tarballs, for an image built without dpkg (OpenBMC)
//   pkg/provisioningd-inspector_<version>_all.deb
//   pkg/provisioningd_<version>_<arch>.deb         (dpkg-deb; the last line printed is its path)
//   pkg/sizes.json       the parts' sizes, raw and xz-compressed (bench/package.bench.ts prints them)
// (`--out DIR` writes all of it to DIR instead of pkg/.)
//
// Node itself is not in the package (Debian's nodejs is too old; an OpenBMC image has meta-oe's):
// the units run /usr/bin/node, which must be Node 22 or newer.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postinst } from './package-maintainer-scripts.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(repo, 'dist');
/** `--out DIR`: where everything goes (default pkg/; tests running side by side give their own). */
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 && process.argv[outArg + 1] ? resolve(process.argv[outArg + 1]) : join(repo, 'pkg');
const LIB = 'usr/lib/provisioningd';
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const version = pkg.version;

/** Runs a command, exits with its output on failure. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error || r.status !== 0) {
    console.error(`package: ${cmd} ${args.join(' ')} failed: ${r.error?.message ?? `exit ${r.status}`}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
    process.exit(1);
  }
  return r.stdout;
}

/** Copies one file, creating its folder, with the given mode. */
function install(from, to, mode = 0o644) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, mode);
}

function write(to, text, mode = 0o644) {
  mkdirSync(dirname(to), { recursive: true });
  writeFileSync(to, text);
  chmodSync(to, mode);
}

/** Every file under dir, relative to it. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

const bytesUnder = (dir) => filesUnder(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

/** A tar of `paths` under `root`, compressed with xz -9 (what an image's compressed file system roughly pays). */
function tarXz(root, paths) {
  const tar = execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', '-', ...paths], { maxBuffer: 256 * 1024 * 1024 });
  return execFileSync('xz', ['-9', '-T1', '-c'], { input: tar, maxBuffer: 256 * 1024 * 1024 });
}

// 1. The bundles.
process.stderr.write('package: building the bundles (scripts/build.mjs)\n');
run(process.execPath, [join(repo, 'scripts/build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
const parts = JSON.parse(readFileSync(join(dist, 'parts.json'), 'utf8'));

rmSync(out, { recursive: true, force: true });
const root = join(out, 'root');
const inspectorRoot = join(out, 'inspector-root');
const mapsRoot = join(out, 'sourcemaps');

// 2. The daemons' part.
for (const file of parts.daemons) install(join(dist, file), join(root, LIB, file));
// The bundles are ES modules; nothing above /usr/lib/provisioningd says so.
write(join(root, LIB, 'package.json'), `${JSON.stringify({ name: 'provisioningd', version, private: true, type: 'module' })}\n`);
// pkcs11js: its loader and its addon, stripped (the PKCS#11 worker is the only code that loads it).
const pkcs11js = join(repo, 'node_modules/pkcs11js');
const pkcs11jsPackage = JSON.parse(readFileSync(join(pkcs11js, 'package.json'), 'utf8'));
const addonDir = join(root, LIB, 'node_modules/pkcs11js');
write(join(addonDir, 'package.json'), `${JSON.stringify({ name: 'pkcs11js', version: pkcs11jsPackage.version, license: pkcs11jsPackage.license, main: 'index.js' })}\n`);
install(join(pkcs11js, 'index.js'), join(addonDir, 'index.js'));
install(join(pkcs11js, 'LICENSE'), join(addonDir, 'LICENSE'));
install(join(pkcs11js, 'build/Release/pkcs11.node'), join(addonDir, 'build/Release/pkcs11.node'), 0o755);
run('strip', ['--strip-unneeded', join(addonDir, 'build/Release/pkcs11.node')]);
// The units, the D-Bus policies (the lldp bridge's under the name it owns).
for (const unit of readdirSync(join(repo, 'service')).filter((f) => f.endsWith('.service'))) {
  install(join(repo, 'service', unit), join(root, 'usr/lib/systemd/system', unit));
}
const policies = {
  'xyz.openbmc_project.Provisioning.conf': 'xyz.openbmc_project.Provisioning.conf',
  'xyz.openbmc_project.attestation.conf': 'xyz.openbmc_project.attestation.conf',
  'lldp-bridge.conf': 'xyz.openbmc_project.LLDP.conf',
};
for (const [from, to] of Object.entries(policies)) install(join(repo, 'service', from), join(root, 'usr/share/dbus-1/system.d', to));
// The default configuration, every key at its default (copy to /var/provisioning/ and edit).
const defaults = JSON.parse(run(process.execPath, ['--import', 'tsx', join(repo, 'scripts/default-configs.ts')], { cwd: repo }));
for (const [name, text] of Object.entries(defaults)) write(join(root, 'usr/share/provisioningd', name), text);
// The README and the docs/ tree beside it as in the repository (pages, the pictures they show), so
// that every relative link of the installed README and docs resolves; the units' Documentation= points into it.
for (const doc of filesUnder(join(repo, 'docs'))) install(join(repo, 'docs', doc), join(root, 'usr/share/doc/provisioningd/docs', doc));
install(join(repo, 'README.md'), join(root, 'usr/share/doc/provisioningd/README.md'));

// 3. The inspector's part, and the source maps apart from both.
for (const file of parts.inspector) install(join(dist, file), join(inspectorRoot, LIB, file));
for (const file of [...parts.daemons, ...parts.inspector].filter((f) => f.endsWith('.js') && !f.startsWith('node_modules/'))) {
  install(join(dist, `${file}.map`), join(mapsRoot, LIB, `${file}.map`));
}

// 4. The Debian packages.
const arch = run('dpkg', ['--print-architecture']).trim();
const maintainer = 'provisioningd developers <provisioningd@localhost>';
const units = ['xyz.openbmc_project.attestation.service', 'lldp-bridge.service', 'xyz.openbmc_project.Provisioning.service'];
const control = (fields) =>
  `${Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n')}\n`;
const installedKib = (dir) => Math.ceil(bytesUnder(dir) / 1024);
write(
  join(root, 'DEBIAN/control'),
  control({
    Package: 'provisioningd',
    Version: version,
    Architecture: arch,
    Maintainer: maintainer,
    'Installed-Size': installedKib(root),
    Depends: 'dbus, openssl, libc6, libstdc++6',
    Recommends: 'lldpd, libtpm2-pkcs11-1',
    Suggests: 'provisioningd-inspector',
    Section: 'admin',
    Priority: 'optional',
    Description: `${pkg.description}\n provisioningd, attestationd and the lldp bridge as systemd services. They run on\n /usr/bin/node, which must be Node.js 22 or newer (not a dependency: Debian's nodejs\n package is older). See /usr/share/doc/provisioningd/docs/operations.md.`,
  }),
);
// Units are enabled and started on install (attestationd stays failed with exit 78 until it has an
// identity: docs/attestation.md); dbus-daemon picks up the new policies by itself.
const ifSystemd = 'if [ -d /run/systemd/system ]; then';
write(join(root, 'DEBIAN/postinst'), postinst(units), 0o755);
write(
  join(root, 'DEBIAN/prerm'),
  `#!/bin/sh\nset -e\nif [ "$1" = remove ] && [ -d /run/systemd/system ]; then\n  systemctl disable --now ${units.join(' ')} >/dev/null 2>&1 || true\nfi\n`,
  0o755,
);
write(join(root, 'DEBIAN/postrm'), `#!/bin/sh\nset -e\n${ifSystemd}\n  systemctl daemon-reload || true\nfi\n`, 0o755);
write(
  join(inspectorRoot, 'DEBIAN/control'),
  control({
    Package: 'provisioningd-inspector',
    Version: version,
    Architecture: 'all',
    Maintainer: maintainer,
    'Installed-Size': installedKib(inspectorRoot),
    Depends: `provisioningd (= ${version})`,
    Section: 'admin',
    Priority: 'optional',
    Description: "provisioningd's live statechart inspector (with the elkjs layout engine)\n Served on 127.0.0.1 when inspect_port is set; provisioningd runs without it.",
  }),
);
const deb = join(out, `provisioningd_${version}_${arch}.deb`);
const inspectorDeb = join(out, `provisioningd-inspector_${version}_all.deb`);
const dpkgDeb = (tree, file) => run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', tree, file]);
dpkgDeb(inspectorRoot, inspectorDeb);
dpkgDeb(root, deb);
// The same trees as tarballs (without DEBIAN/), for images built without dpkg (docs/operations.md,
// "On an OpenBMC image"), and the source maps.
const tarballs = {
  root: join(out, `provisioningd-root-${version}.tar.xz`),
  inspector: join(out, `provisioningd-inspector-root-${version}.tar.xz`),
  maps: join(out, `provisioningd-sourcemaps_${version}.tar.xz`),
};
writeFileSync(tarballs.root, tarXz(root, ['usr']));
writeFileSync(tarballs.inspector, tarXz(inspectorRoot, ['usr']));
writeFileSync(tarballs.maps, tarXz(mapsRoot, ['usr']));

// 5. Sizes.
const sizes = {
  daemons: { bytes: bytesUnder(join(root, LIB)), xz: statSync(tarballs.root).size, libXz: tarXz(root, [LIB]).length },
  inspector: { bytes: bytesUnder(join(inspectorRoot, LIB)), xz: statSync(tarballs.inspector).size },
  sourcemaps: { bytes: bytesUnder(mapsRoot), xz: statSync(tarballs.maps).size },
  debs: { provisioningd: statSync(deb).size, inspector: statSync(inspectorDeb).size },
};
writeFileSync(join(out, 'sizes.json'), `${JSON.stringify(sizes, null, 1)}\n`);
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
console.log(`package: daemons' part ${kib(sizes.daemons.bytes)} in ${LIB} (whole package xz ${kib(sizes.daemons.xz)}), inspector ${kib(sizes.inspector.bytes)} (xz ${kib(sizes.inspector.xz)}), source maps ${kib(sizes.sourcemaps.bytes)} (xz ${kib(sizes.sourcemaps.xz)})`);
for (const tarball of Object.values(tarballs)) console.log(tarball);
console.log(inspectorDeb);
console.log(deb);
